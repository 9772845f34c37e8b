namespace NfNet.Training;

/// <summary>The loss became NaN or infinite; training stopped at <see cref="Step"/>.</summary>
public sealed class TrainingDivergedException(long step, double loss)
    : ArithmeticException($"training diverged: the loss is {loss} at step {step}; lower the learning rate, enable AGC, or check the data")
{
    /// <summary>The optimizer step (0-based) whose loss was not finite.</summary>
    public long Step { get; } = step;
    /// <summary>The loss value.</summary>
    public double Loss { get; } = loss;
}
