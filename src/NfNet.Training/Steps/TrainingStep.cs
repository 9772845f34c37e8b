using NfNet.Platform;
using NfNet.Training.Augmentation;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Steps;

/// <summary>One batch as a step sees it: the raw images (kept by DLB), the batch on the device, the step's random
/// source and the epoch's plan.</summary>
internal sealed record StepBatch(Tensor RawImages, Tensor Images, Tensor Labels, Random Random, EpochPlan Plan, long Step);

/// <summary>What every step strategy shares: the model, the optimizer, the options and the helpers that prepare a batch.</summary>
internal sealed record StepContext(nn.Module<Tensor, Tensor> Model, optim.Optimizer Optimizer, TrainerOptions Options, int Classes)
{
    /// <summary>Averages the gradients across the ranks of a data-parallel run after every backward pass that precedes
    /// an optimizer update (both of SAM's), before the optimizer and its AGC see them; null in one process.</summary>
    public Action? SynchronizeGradients { get; init; }

    /// <summary>Factor on the loss before each backward pass: 1 / world size in a data-parallel run, so that summing the
    /// ranks' gradients gives their mean without another pass over the gradient (1 in one process).</summary>
    public double GradientScale { get; init; } = 1.0;

    /// <summary>The compute dtype of the options' precision mode.</summary>
    public ScalarType ComputeType { get; } = Devices.Precision.ComputeType(Options.Precision);

    /// <summary>Crop/flip per the plan (or the options), then the plan's image size.</summary>
    public Tensor Augment(Tensor x, EpochPlan plan, Random random)
    {
        var augment = plan.Augment ?? Options.Augment;
        if (augment is not null) x = augment.Apply(x, random);
        return ResizeTo(plan, x);
    }

    /// <summary>Resizes a batch (bilinear) to the plan's image size, if it sets one that differs.</summary>
    public static Tensor ResizeTo(EpochPlan plan, Tensor x) =>
        plan.ImageSize is { } size && (x.size(2) != size || x.size(3) != size)
            ? nn.functional.interpolate(x, new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false)
            : x;

    /// <summary>The loss as a double; a NaN or infinite loss stops training before it reaches the weights.</summary>
    /// <exception cref="TrainingDivergedException">The loss is not finite.</exception>
    public static double Finite(Tensor loss, long step)
    {
        var v = loss.ReadDouble();
        return double.IsFinite(v) ? v : throw new TrainingDivergedException(step, v);
    }
}

/// <summary>A training step strategy: plain, SAM or DLB (chosen by <see cref="TrainingSteps.For"/> from the options).</summary>
internal interface ITrainingStep : IDisposable
{
    /// <summary>Runs one optimizer step on <paramref name="batch"/>; returns the batch's loss and training accuracy.</summary>
    (double Loss, double Accuracy) Run(StepBatch batch);
}

/// <summary>Chooses the step strategy from the options.</summary>
internal static class TrainingSteps
{
    /// <summary>DLB when <see cref="TrainerOptions.DlbAlpha"/> is set, SAM when <see cref="TrainerOptions.SamRho"/> is
    /// positive, else the plain step.</summary>
    public static ITrainingStep For(StepContext context) =>
        context.Options.DlbAlpha is { } alpha ? new DistillationStep(context, alpha)
        : context.Options.SamRho > 0 ? new SoftTargetStep(context, sharpnessAware: true)
        : new SoftTargetStep(context, sharpnessAware: false);
}
