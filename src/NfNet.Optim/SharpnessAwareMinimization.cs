using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// Sharpness-Aware Minimization (Foret et al. 2021; the algorithm of davda54/sam with the exact restore) as a decorator
/// around any TorchSharp optimizer, including <see cref="AdaptiveGradientClipping"/>. One <see cref="step"/> is:
/// <list type="number">
/// <item>zero the gradients and run the closure at the weights <c>w</c> (gradient <c>g</c>);</item>
/// <item>compute one global norm <c>n = ‖(‖t_p ⊙ g_p‖)_p‖</c> over every parameter with a gradient (<c>t_p = |w_p|</c>
/// when adaptive, else 1) and move each such parameter to <c>w + ρ/(n + 1e-12) · t_p² ⊙ g</c>;</item>
/// <item>zero the gradients and run the closure again at the perturbed point (gradient <c>g'</c>);</item>
/// <item>restore the saved <c>w</c> exactly (a copy, not a subtraction) and let the inner optimizer step with <c>g'</c>.</item>
/// </list>
/// </summary>
/// <remarks>
/// The closure must zero nothing itself but must run the forward pass and <c>backward()</c>, and return the loss; it runs
/// exactly twice per step, and <see cref="step"/> returns the loss at <c>w</c>. To combine with AGC, wrap AGC inside SAM
/// (<c>new SharpnessAwareMinimization(new AdaptiveGradientClipping(sgd, ...))</c>): AGC then clips <c>g'</c> just before
/// the base step, and its weight decay is added to <c>g'</c> only. Learning rates and schedulers reach the innermost
/// optimizer through <see cref="OptimizerDecorator.ParamGroups"/>. bf16 parameters are perturbed in their own dtype; the norm is computed in
/// float32 and the restore is bit-exact.
/// </remarks>
public sealed class SharpnessAwareMinimization : OptimizerDecorator
{
    /// <summary>The SAM paper's (and davda54's) default neighbourhood size ρ.</summary>
    public const double DefaultRho = 0.05;

    /// <summary>Added to the gradient norm before dividing (1e-12, as in the reference).</summary>
    public const double NormEpsilon = 1e-12;


    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The base optimizer (SGD, Adam, AGC-wrapped SGD, …).</param>
    /// <param name="rho">Neighbourhood size ρ ≥ 0 (ρ = 0 is plain training at twice the cost).</param>
    /// <param name="adaptive">ASAM (Kwon et al. 2021): scale the perturbation element-wise by |w|; use a larger ρ (≈2).</param>
    /// <param name="skipNonFiniteSteps">False (default): a non-finite gradient raises <see cref="NonFiniteGradientException"/>;
    /// true: the step is skipped with the weights unchanged and <see cref="OptimizerDecorator.SkippedSteps"/> counts it.</param>
    /// <exception cref="ArgumentOutOfRangeException">ρ is negative or not finite.</exception>
    /// <exception cref="ArgumentException">The inner optimizer has no parameters.</exception>
    public SharpnessAwareMinimization(optim.Optimizer inner, double rho = DefaultRho, bool adaptive = false,
        bool skipNonFiniteSteps = false) : base(inner)
    {
        if (!(rho >= 0) || double.IsInfinity(rho))
            throw new ArgumentOutOfRangeException(nameof(rho), rho, "SAM's rho must be a finite, non-negative number");
        Rho = rho;
        Adaptive = adaptive;
        SkipNonFiniteSteps = skipNonFiniteSteps;
    }

    /// <summary>ρ.</summary>
    public double Rho { get; }
    /// <summary>Whether the perturbation is adaptive (ASAM).</summary>
    public bool Adaptive { get; }
    /// <summary>Whether non-finite gradients skip the step instead of raising.</summary>
    public bool SkipNonFiniteSteps { get; }
    /// <summary>The global gradient norm <c>n</c> of the last step (NaN before the first).</summary>
    public double LastGradientNorm { get; private set; } = double.NaN;

    /// <summary>Runs one SAM step; <paramref name="closure"/> is required (forward, backward, return the loss).</summary>
    /// <returns>The loss at the unperturbed weights, as the closure returned it.</returns>
    /// <exception cref="ArgumentNullException">No closure was given.</exception>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        if (closure is null)
            throw new ArgumentNullException(nameof(closure), "SAM needs a closure that runs the forward pass and backward() " +
                "and returns the loss: it evaluates the gradient twice per step, at w and at the perturbed point w + e");

        Inner.zero_grad();
        Tensor loss;
        using (enable_grad()) loss = closure();

        var withGrad = Inner.parameters().Where(p => p.grad is not null).ToArray();
        var saved = new Tensor[withGrad.Length];
        try
        {
            using (no_grad())
            {
                var norm = GlobalNorm(withGrad);
                LastGradientNorm = norm;
                if (!double.IsFinite(norm))
                {
                    if (!SkipNonFiniteSteps) throw new NonFiniteGradientException("(SAM global gradient norm)");
                    SkippedSteps++;
                    Inner.zero_grad();
                    return loss;
                }
                using var scale = (Rho / (norm + NormEpsilon)).ToScalar();
                for (var i = 0; i < withGrad.Length; i++)
                {
                    var p = withGrad[i];
                    saved[i] = DetachedCopy.Of(p);
                    using var scope = NewDisposeScope();
                    var e = Adaptive ? p.Squared().mul_(p.grad!) : p.grad!.clone();
                    p.PlusInPlace(e.mul_(scale));
                }
            }

            Inner.zero_grad();
            using (enable_grad()) closure();
        }
        finally
        {
            using (no_grad())
                for (var i = 0; i < withGrad.Length; i++)
                    if (saved[i] is { } s) { withGrad[i].copy_(s); s.Dispose(); }
        }

        ScalarSafeSgdStep.Step(Inner);
        return loss;
    }

    private double GlobalNorm(IReadOnlyList<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var total = 0.0;
        foreach (var p in parameters)
        {
            var accumulate = p.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
            var g = p.grad!.to(accumulate);
            if (Adaptive) g = g.mul(p.detach().abs().to(accumulate));
            var n = g.VectorNorm2().ReadDouble();
            total += n * n;
        }
        return Math.Sqrt(total);
    }


}
