using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// Carries a folded input scale through TorchSharp's <c>call()</c>, so that a convolution that takes
/// <c>inputScale · x</c> (the previous activation's gamma, the block's beta) still runs the forward hooks and pre-hooks a
/// user registered on it: <c>Module&lt;Tensor, Tensor&gt;.call</c> has one argument, so the scale waits here, per thread,
/// keyed by the module, for the module's own <c>forward(x)</c> to pick it up.
/// </summary>
internal static class FoldedInputScale
{
    [ThreadStatic] private static Stack<(object Module, double Scale)>? _pending;

    /// <summary><c>module.call(input)</c>, with <paramref name="scale"/> waiting for the module's forward.</summary>
    public static Tensor Call(nn.Module<Tensor, Tensor> module, Tensor input, double scale)
    {
        if (scale == 1.0) return module.call(input);
        var pending = _pending ??= new Stack<(object, double)>();
        pending.Push((module, scale));
        try
        {
            return module.call(input);
        }
        finally
        {
            pending.Pop();
        }
    }

    /// <summary>The scale waiting for <paramref name="module"/> (1 when none: a plain <c>call</c> or <c>forward</c>).</summary>
    public static double For(object module) =>
        _pending is { Count: > 0 } pending && ReferenceEquals(pending.Peek().Module, module) ? pending.Peek().Scale : 1.0;
}
