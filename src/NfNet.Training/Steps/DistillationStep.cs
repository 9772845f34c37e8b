using NfNet.Optim;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Steps;

/// <summary>
/// DLB's step (<see cref="LastMiniBatchDistillation"/>): hard-label cross-entropy over the new batch and a second
/// augmented view of the previous one, plus the distillation term against the previous step's logits. MixUp/CutMix and
/// label smoothing are not applied (the official code uses hard labels); the trainer refuses options or plans that set
/// them.
/// </summary>
internal sealed class DistillationStep(StepContext context, double alpha) : ITrainingStep
{
    private readonly LastMiniBatchDistillation _dlb = new(context.Options.DlbTemperature, alpha);

    public (double Loss, double Accuracy) Run(StepBatch batch)
    {
        var x = context.Augment(batch.Images, batch.Plan, batch.Random).to(context.ComputeType);
        var y = batch.Labels;
        context.Optimizer.zero_grad();
        var logits = context.Model.call(x);
        Tensor? previousNow = null;
        if (_dlb.Previous is { } prev)
        {
            var view = context.Augment(prev.Images.to(batch.Images.device), batch.Plan, batch.Random); // an independent view
            previousNow = context.Model.call(view.to(context.ComputeType));
        }
        var loss = _dlb.Loss(logits, y, previousNow);
        var value = StepContext.Finite(loss, batch.Step);
        (context.GradientScale == 1.0 ? loss : loss.Times(context.GradientScale)).backward();
        context.SynchronizeGradients?.Invoke();
        ScalarSafeSgdStep.Step(context.Optimizer);
        _dlb.Remember(batch.RawImages, y, logits);
        return (value, logits.argmax(1).eq(y).to(ScalarType.Float32).mean().ReadDouble());
    }

    public void Dispose() => _dlb.Dispose();
}
