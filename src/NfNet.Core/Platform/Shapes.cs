using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// A tensor's sizes and strides read without TorchSharp's array-returning properties: the one place that holds
/// NfNet.NET's rule for them. Library code reads one size as <c>t.size(d)</c> and a whole shape through
/// <see cref="Of"/>, never through <c>t.shape</c>, <c>t.size()</c> or <c>t.stride()</c>.
/// </summary>
/// <remarks>
/// <para><b>The hazard.</b> In TorchSharp 0.107 <c>Tensor.shape</c> (and <c>size()</c>, <c>stride()</c>) hands
/// libtorch a new managed delegate on every call (<c>THSTensor_sizes</c> with an <c>AllocatePinnedArray</c>
/// callback). The .NET runtime keeps 130–180 bytes of native memory for each delegate it passes to native code, and
/// reuses them only after a garbage collection has found the delegate dead; a training step makes little managed
/// garbage, so collections are tens of steps apart. Those small blocks, scattered between the step's large tensor buffers, kept
/// glibc from reusing freed memory: F0's float32 training step at 128 px, batch 8 (about 2,700 calls a step) grew
/// the native heap by 100–200 MB a step, to 3.2 GB against 1.6 GB, and took 25,000–60,000 page faults a step, each a
/// freshly zeroed page, until the first collection (about step 25). 10,000 extra <c>shape</c> calls a step did the
/// same to a forward and backward pass that otherwise stayed flat; <c>size(d)</c> returns a number and does not
/// (benchmarks/README.md, "The native heap").</para>
/// <para><b>The rule</b> (enforced over the compiled IL of every NfNet assembly by
/// <c>tests/NfNet.Reliability.Tests</c>): <c>size(d)</c>, <c>dim()</c> and <c>numel()</c> for numbers,
/// <see cref="Of"/>, <see cref="StridesOf"/> and <see cref="Same"/> for whole shapes.</para>
/// </remarks>
internal static class Shapes
{
    /// <summary>The sizes of <paramref name="tensor"/>, one per dimension (what <c>tensor.shape</c> returns).</summary>
    public static long[] Of(Tensor tensor)
    {
        var shape = new long[tensor.dim()];
        for (var d = 0; d < shape.Length; d++) shape[d] = tensor.size(d);
        return shape;
    }

    /// <summary>The strides of <paramref name="tensor"/> in elements, one per dimension (what <c>tensor.stride()</c>
    /// returns).</summary>
    public static long[] StridesOf(Tensor tensor)
    {
        var strides = new long[tensor.dim()];
        for (var d = 0; d < strides.Length; d++) strides[d] = tensor.stride(d);
        return strides;
    }

    /// <summary>The output side of a convolution along one dimension (libtorch's formula, symmetric padding).</summary>
    public static long ConvOutputSide(long size, long kernel, long stride, long padding, long dilation) =>
        (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> have the same rank and sizes.</summary>
    public static bool Same(Tensor a, Tensor b)
    {
        var rank = a.dim();
        if (b.dim() != rank) return false;
        for (var d = 0; d < rank; d++)
            if (a.size(d) != b.size(d)) return false;
        return true;
    }
}
