using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// A copy of a tensor's values, cut from its autograd graph and from any dispose scope, that the caller owns: the
/// moving average's shadows, SAM's saved weights, a checkpoint's rollback snapshot, the last mini-batch kept for
/// distillation.
/// </summary>
/// <remarks>
/// Written once because the obvious form, <c>t.detach().clone()</c>, is a use-after-free outside a dispose scope: the
/// detached view is unreachable while libtorch copies from it, so a collection on another thread can finalize it and
/// free the native tensor mid-copy. The exponential moving average's constructor did exactly that and crashed the
/// GC-stress run in libtorch's <c>_to_copy</c> five times in ten (2026-12-06; docs/platform.md). Here the view is held
/// until the copy exists. <c>TensorTemporariesTests</c> scans the compiled library for the pattern.
/// </remarks>
internal static class DetachedCopy
{
    /// <summary>A new tensor with <paramref name="tensor"/>'s values (converted to <paramref name="dtype"/> when given),
    /// no gradient history, and no dispose scope holding it: dispose it yourself.</summary>
    public static Tensor Of(Tensor tensor, ScalarType? dtype = null)
    {
        using var detached = tensor.detach();
        var copy = dtype is { } d ? detached.to(d, copy: true) : detached.clone();
        return copy.DetachFromDisposeScope();
    }
}
