using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// Base of the optimizer decorators: parameters, gradients and learning rates are the wrapped optimizer's, so
/// TorchSharp's schedulers and <c>zero_grad</c> act on it through any stack of decorators.
/// </summary>
public abstract class OptimizerDecorator : optim.Optimizer, IOptimizerDecorator
{
    /// <summary>Wraps <paramref name="inner"/>, which must have parameters.</summary>
    /// <exception cref="ArgumentException">The inner optimizer has no parameters.</exception>
    protected OptimizerDecorator(optim.Optimizer inner) : base(IntPtr.Zero)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.parameters().Any()) throw new ArgumentException("the inner optimizer has no parameters", nameof(inner));
        Inner = inner;
    }

    /// <inheritdoc />
    public optim.Optimizer Inner { get; }

    /// <summary>The optimizer at the bottom of a stack of decorators (the one that holds parameters and state).</summary>
    public static optim.Optimizer Innermost(optim.Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        while (optimizer is IOptimizerDecorator d) optimizer = d.Inner;
        return optimizer;
    }

    /// <summary>Steps skipped for non-finite gradients.</summary>
    public int SkippedSteps { get; protected set; }

    /// <inheritdoc />
    public override void zero_grad() => Inner.zero_grad();

    /// <inheritdoc />
    public override IEnumerable<Parameter> parameters() => Inner.parameters();

    /// <inheritdoc />
    public override IEnumerable<optim.ILearningRateController> ParamGroups => Inner.ParamGroups;

    /// <inheritdoc />
    public override void add_param_group(ParamGroup param_group) => Inner.add_param_group(param_group);

    /// <inheritdoc />
    public virtual void SaveDecoratorState(BinaryWriter writer) => writer.Write(SkippedSteps);

    /// <inheritdoc />
    public virtual void LoadDecoratorState(BinaryReader reader) => SkippedSteps = reader.ReadInt32();
}
