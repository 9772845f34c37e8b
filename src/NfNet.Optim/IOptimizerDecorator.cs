using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// An optimizer that wraps another one (<see cref="AdaptiveGradientClipping"/>,
/// <see cref="SharpnessAwareMinimization"/>). Learning rates, parameters and state live in the innermost optimizer.
/// </summary>
public interface IOptimizerDecorator
{
    /// <summary>The wrapped optimizer.</summary>
    optim.Optimizer Inner { get; }

    /// <summary>Writes the decorator's own counters (not the inner optimizer's state).</summary>
    void SaveDecoratorState(BinaryWriter writer);

    /// <summary>Reads what <see cref="SaveDecoratorState"/> wrote.</summary>
    void LoadDecoratorState(BinaryReader reader);
}
