using TorchSharp.Modules;

namespace NfNet.Optim;

/// <summary>
/// Weight decay added to the gradient (<c>g ← g + rate·W</c>) by <see cref="AdaptiveGradientClipping"/> after it
/// clips, as DeepMind's SGD_AGC does. Only <see cref="Parameters"/> are decayed (see
/// <see cref="NFNetRecipe.SplitForWeightDecay"/> for the paper's choice: conv and linear weights only).
/// </summary>
public sealed class CoupledWeightDecay
{
    /// <summary>Creates the decay of <paramref name="parameters"/> at <paramref name="rate"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The rate is negative or not finite.</exception>
    public CoupledWeightDecay(double rate, IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(rate >= 0) || double.IsInfinity(rate))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "weight decay must be a finite, non-negative number");
        Rate = rate;
        Parameters = parameters.ToArray();
    }

    /// <summary>The decay coefficient (2e-5 in the paper).</summary>
    public double Rate { get; }

    /// <summary>The decayed parameters.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }
}
