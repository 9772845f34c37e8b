using NfNet.Optim;
using NfNet.Platform;
using NfNet.Training.Augmentation;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Steps;

/// <summary>
/// The recipe's step on soft targets: augmentation, MixUp/CutMix, label smoothing, cross-entropy over
/// <see cref="TrainerOptions.AccumulationSteps"/> micro-batches. Plain: the loss is checked, then the optimizer steps.
/// Sharpness-aware: the optimizer (SAM) evaluates the closure twice, at <c>w</c> and at <c>w + ρ·g/‖g‖</c>.
/// </summary>
internal sealed class SoftTargetStep(StepContext context, bool sharpnessAware) : ITrainingStep
{
    public (double Loss, double Accuracy) Run(StepBatch batch)
    {
        var o = context.Options;
        var x = context.Augment(batch.Images, batch.Plan, batch.Random);
        var y = batch.Labels;
        var mix = batch.Plan.Mix ?? o.Mix;
        var smoothing = batch.Plan.LabelSmoothing ?? o.LabelSmoothing;
        Tensor targets;
        if (mix is not null) (x, targets) = mix.Apply(x, y, context.Classes, batch.Random);
        else targets = nn.functional.one_hot(y, context.Classes).to(ScalarType.Float32);
        if (smoothing > 0) targets = SoftTargets.Smooth(targets, smoothing);
        x = x.to(context.ComputeType);

        double accuracy = 0;
        Tensor Closure()
        {
            Tensor? total = null;
            var micro = o.AccumulationSteps;
            var size = x.size(0) / micro;
            long right = 0;
            for (var i = 0; i < micro; i++)
            {
                var xb = micro == 1 ? x : x.narrow(0, i * size, size);
                var tb = micro == 1 ? targets : targets.narrow(0, i * size, size);
                var logits = context.Model.call(xb);
                var loss = SoftTargets.CrossEntropy(logits, tb);
                var scaled = micro == 1 ? loss : loss.DividedBy(micro);
                if (context.GradientScale != 1.0) scaled = scaled.Times(context.GradientScale); // 1/W: the ranks' sum is the mean
                scaled.backward();
                right += logits.argmax(1).eq(micro == 1 ? y : y.narrow(0, i * size, size)).sum().ReadInt64();
                total = total is null ? loss.detach().DividedBy(micro) : total.Plus(loss.detach().DividedBy(micro));
            }
            accuracy = (double)right / x.size(0);
            context.SynchronizeGradients?.Invoke(); // after the last micro-batch only, as DDP's no_sync
            return total!;
        }

        var optimizer = context.Optimizer;
        optimizer.zero_grad();
        double lossValue;
        if (sharpnessAware)
        {
            lossValue = StepContext.Finite(ScalarSafeSgdStep.Step(optimizer, Closure), batch.Step);
        }
        else
        {
            lossValue = StepContext.Finite(Closure(), batch.Step); // checked before the step: a NaN loss never reaches the weights
            ScalarSafeSgdStep.Step(optimizer);
        }
        return (lossValue, accuracy);
    }

    public void Dispose() { }
}
