using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// Steps TorchSharp's <c>SGD</c> with owned Scalars. TorchSharp 0.107's own <c>SGD.step</c> converts its learning rate,
/// momentum and decay to Scalars that only the finalizer frees, which a garbage collection on another thread can free
/// while libtorch reads them (see <see cref="NfNet.Platform.Scalars"/>). This is the same update, in the same order of
/// libtorch operations as TorchSharp's <c>SGD.step</c> (PyTorch's <c>torch.optim.SGD</c> with <c>foreach=False</c>,
/// except that <c>maximize</c> flips the step's sign as TorchSharp does), on SGD's own parameter groups, learning
/// rates and momentum buffers, so schedulers, checkpoints and <see cref="OptimizerState"/> see no difference.
/// </summary>
/// <remarks>The library's optimizer decorators (<see cref="AdaptiveGradientClipping"/>,
/// <see cref="SharpnessAwareMinimization"/>) and the trainer step their inner SGD through it. Other optimizers
/// (TorchSharp's Adam and AdamW have the same hazard in their <c>step</c>) are stepped through their own
/// <c>step</c>.</remarks>
public static class ScalarSafeSgdStep
{
    /// <summary>
    /// Runs <paramref name="closure"/> (with gradients on) and steps <paramref name="optimizer"/>: TorchSharp's SGD by the
    /// update of this class, any other optimizer by its own <c>step(closure)</c>.
    /// </summary>
    /// <returns>The closure's loss, or null without a closure (what the optimizer's own step returns).</returns>
    public static Tensor Step(optim.Optimizer optimizer, Func<Tensor>? closure = null)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (optimizer.GetType() != typeof(SGD)) return optimizer.step(closure);
        var sgd = (SGD)optimizer;
        var states = TorchSharpInternals.SgdStates(sgd);
        if (states.Any(s => s is null)) return optimizer.step(closure);   // not a state layout this class knows
        Tensor? loss = null;
        if (closure is not null)
        {
            using var _ = enable_grad();
            loss = closure();
        }
        Update(sgd, states!);
        return loss!;
    }

    private static void Update(SGD sgd, IReadOnlyList<SGD.State> states)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var index = 0;
        foreach (var group in sgd.ParamGroups.OfType<ParamGroup>())
        {
            var o = (SGD.Options)group.Options!;
            var momentum = o.momentum ?? 0;
            var decay = o.weight_decay ?? 0;
            var nesterov = o.nesterov ?? false;
            var maximize = o.maximize ?? false;
            // TorchSharp's sign convention for maximize (it flips the final step, not the gradient as PyTorch does).
            using var step = (maximize ? group.LearningRate : -group.LearningRate).ToScalar();
            using var m = momentum.ToScalar();
            using var keep = (1 - (o.dampening ?? 0)).ToScalar();
            using var wd = decay.ToScalar();
            foreach (var p in group.Parameters)
            {
                var state = states[index++];
                if (p.grad is not { } grad) continue;
                var d = decay != 0 ? grad.add(p, wd) : grad;
                if (momentum != 0)
                {
                    if (state.momentum_buffer is not { } buffer)
                        state.momentum_buffer = buffer = d.clone().detach().DetachFromDisposeScope();
                    else
                        buffer.mul_(m).add_(d, keep);
                    d = nesterov ? d.add(buffer, m) : buffer;
                }
                p.add_(d, step);
            }
        }
    }
}
