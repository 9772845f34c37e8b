using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// Keeps the tensors a custom autograd function (<c>torch.autograd.SingleTensorFunction</c>) returns alive until libtorch
/// has read them. TorchSharp 0.107's bridge passes their native handles on after the managed <c>forward</c> or
/// <c>backward</c> has returned (<c>THSAutograd_Function_wrapOutputs</c>, <c>CSharpNode::apply</c>), so a wrapper no one
/// references could be finalized, and its handle freed, in between: a read after free under garbage-collection
/// pressure, the Scalar hazard's cousin. Each thread keeps its last call's results until its next call, by when the
/// bridge has copied them (CPU autograd runs a function's forward and backward on the calling thread, one at a time).
/// </summary>
internal static class AutogradResults
{
    [ThreadStatic] private static List<Tensor>? t_kept;

    /// <summary>Keeps <paramref name="tensors"/> until this thread's next call, and disposes the previous call's.</summary>
    public static void KeepUntilNextCall(params Tensor[] tensors)
    {
        var previous = t_kept;
        t_kept = new List<Tensor>(tensors);
        if (previous is null) return;
        foreach (var t in previous) t.Dispose();
    }
}
