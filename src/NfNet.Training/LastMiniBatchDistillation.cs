using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training;

/// <summary>
/// DLB, self-distillation from the last mini-batch (Shen et al., CVPR 2022), as the official code runs it: every step
/// re-forwards the previous step's images (a second augmented view) next to the new batch, and the logits those images
/// got one step earlier — stored detached — act as the teacher:
/// <c>L = CE([z_prev_now; z_new], [y_prev; y_new]) + α·τ²·KL(softmax(z_prev_then/τ) ‖ softmax(z_prev_now/τ))</c>, the KL
/// summed over classes and averaged over the previous batch's samples ("batchmean"). The first step is plain CE. Only one
/// previous batch is kept; its tensors are disposed when replaced.
/// </summary>
/// <remarks>TorchSharp's <c>kl_div</c> defaults to <c>log_target: true</c> and has no "batchmean", so the KL here is
/// written out: <c>Σ p_t·(log p_t − log p_s) / b</c>.</remarks>
public sealed class LastMiniBatchDistillation(double temperature = 3.0, double alpha = 1.0) : IDisposable
{
    /// <summary>τ (3 in the paper).</summary>
    public double Temperature { get; } = temperature > 0 ? temperature : throw new ArgumentOutOfRangeException(nameof(temperature));
    /// <summary>α (1 in the paper).</summary>
    public double Alpha { get; } = alpha >= 0 ? alpha : throw new ArgumentOutOfRangeException(nameof(alpha));

    /// <summary>The previous step's images (to re-forward), labels and detached logits, or null before the first step.</summary>
    public (Tensor Images, Tensor Labels, Tensor Logits)? Previous { get; private set; }

    /// <summary>
    /// The DLB loss for a step: <paramref name="newLogits"/> of the new batch and, when <see cref="Previous"/> exists,
    /// <paramref name="previousLogitsNow"/> — the model's logits on <c>Previous.Images</c> at this step (with gradients).
    /// </summary>
    public Tensor Loss(Tensor newLogits, Tensor newLabels, Tensor? previousLogitsNow)
    {
        ArgumentNullException.ThrowIfNull(newLogits);
        ArgumentNullException.ThrowIfNull(newLabels);
        using var scope = NewDisposeScope();
        if (Previous is not { } prev || previousLogitsNow is null)
            return nn.functional.cross_entropy(newLogits.to(ScalarType.Float32), newLabels).MoveToOuterDisposeScope();
        if (previousLogitsNow.size(0) != prev.Labels.size(0))
            throw new ArgumentException($"{previousLogitsNow.size(0)} logits for a previous batch of {prev.Labels.size(0)}", nameof(previousLogitsNow));
        var student = previousLogitsNow.to(ScalarType.Float32);
        var ce = nn.functional.cross_entropy(cat(new[] { student, newLogits.to(ScalarType.Float32) }), cat(new[] { prev.Labels, newLabels }));
        var logTeacher = nn.functional.log_softmax(prev.Logits.DividedBy(Temperature), 1);
        var logStudent = nn.functional.log_softmax(student.DividedBy(Temperature), 1);
        var kl = (logTeacher.exp() * (logTeacher - logStudent)).sum().DividedBy(student.size(0));
        return ce.Plus(kl, Alpha * Temperature * Temperature).MoveToOuterDisposeScope();
    }

    /// <summary>Keeps this step's batch and its logits (detached copies) for the next step, disposing the older ones.</summary>
    public void Remember(Tensor images, Tensor labels, Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(logits);
        Forget();
        Previous = (DetachedCopy.Of(images), DetachedCopy.Of(labels), DetachedCopy.Of(logits, ScalarType.Float32));
    }

    /// <summary>Drops the stored batch.</summary>
    public void Forget()
    {
        if (Previous is { } p)
        {
            p.Images.Dispose();
            p.Labels.Dispose();
            p.Logits.Dispose();
        }
        Previous = null;
    }

    /// <inheritdoc />
    public void Dispose() => Forget();
}
