using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// TensorFlow "SAME" padding, as the DeepMind reference and timm's <c>dm_nfnet_*</c> (<c>ScaledStdConv2dSame</c>)
/// use it: output size <c>ceil(n / s)</c>, total padding <c>max((out - 1)·s + (k - 1)·d + 1 - n, 0)</c>, split
/// <c>pad // 2</c> before and the rest after. At stride 2 on an even size that is 0 before and 1 after, which
/// PyTorch's symmetric <c>padding=1</c> does not reproduce.
/// </summary>
public static class SamePadding
{
    /// <summary>Padding before and after one spatial dimension of size <paramref name="size"/>.</summary>
    public static (long Before, long After) For(long size, long kernel, long stride, long dilation = 1)
    {
        var outSize = (size + stride - 1) / stride;
        var total = Math.Max((outSize - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
        return (total / 2, total - total / 2);
    }

    /// <summary>Output size of a SAME-padded op along one dimension: <c>ceil(size / stride)</c>.</summary>
    public static long OutputSize(long size, long stride) => (size + stride - 1) / stride;

    /// <summary>
    /// True when SAME padding is the same for every input size, i.e. stride 1 and an even total
    /// <c>(k - 1)·d</c>: it is then symmetric and can be given to the convolution itself.
    /// </summary>
    public static bool IsStatic(long kernel, long stride, long dilation = 1) => stride == 1 && (kernel - 1) * dilation % 2 == 0;

    /// <summary>Zero-pads the last two dimensions of <paramref name="x"/> (NCHW) for a SAME op; returns an alias if none is needed.</summary>
    public static Tensor Pad(Tensor x, long kernel, long stride, long dilation = 1)
    {
        var (top, bottom) = For(x.size(-2), kernel, stride, dilation);
        var (left, right) = For(x.size(-1), kernel, stride, dilation);
        if (top == 0 && bottom == 0 && left == 0 && right == 0) return x.alias();
        return nn.functional.pad(x, new[] { left, right, top, bottom });
    }
}
