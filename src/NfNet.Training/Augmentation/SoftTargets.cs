using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Augmentation;

/// <summary>Label smoothing and cross-entropy against soft targets, computed in float32.</summary>
public static class SoftTargets
{
    /// <summary>One-hot targets with label smoothing ε: <c>(1 − ε)·onehot + ε/classes</c> (applied after mixing, as DeepMind).</summary>
    public static Tensor Smooth(Tensor targets, double smoothing)
    {
        if (smoothing is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(smoothing), smoothing, "label smoothing must be in [0, 1)");
        var classes = targets.size(-1);
        using var scaled = targets.Times(1 - smoothing);
        return scaled.Plus(smoothing / classes);
    }

    /// <summary>Mean over the batch of <c>−Σ_c t_c · log softmax(logits)_c</c>, in float32.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var logp = nn.functional.log_softmax(logits.to(ScalarType.Float32), 1);
        return (-(targets.to(ScalarType.Float32) * logp).sum(1)).mean().MoveToOuterDisposeScope();
    }
}
