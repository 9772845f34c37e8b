using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// The channels-last strategy of <see cref="ConvolutionBackend"/> (a speed path, not a fix): on an Intel CPU with AMX
/// (<see cref="CpuFeatures.HasAmxBf16"/>), a wide bf16 or float32 convolution whose output map is above the pointwise
/// limit gets its input channels-last (NHWC), so its output is channels-last too and the layers after it (activations,
/// the residual <c>addcmul</c>, average pooling, the next convolution) keep that layout.
/// </summary>
/// <remarks>
/// <para>Why: oneDNN 3.7's AMX convolution kernels (<c>brgconv</c>) read and write NHWC. Given the NCHW tensors
/// libtorch makes by default, every call reorders its input, its output, and in the backward pass its output gradient
/// and input gradient (ONEDNN_VERBOSE: 306 reorders a step in F0's pure-bf16 step at 128 px, batch 8). A channels-last
/// input needs none of them: the layout is converted once, at the first such convolution, and then flows. float32's
/// AVX-512 kernels gain on large maps too.</para>
/// <para>Measured on a 2-core Intel Xeon (Emerald Rapids, AMX-BF16) with libtorch 2.10 (benchmarks/README.md, "Intel
/// AMX"), forward + backward of F0's convolutions, NCHW against NHWC: bf16 1×1 on 32×32 maps 6.3 → 1.7 ms, on 16×16
/// 3.6 → 1.4 ms, 3×3 on 32×32 6.8 → 4.3 ms, 1×1 on 12×12 at batch 32 42.8 → 25.0 ms; float32 3×3 on 48×48 at batch 32
/// 427 → 294 ms, 1×1 on 32×32 10.1 → 8.0 ms, on 12×12 at batch 32 171 → 166 ms. On maps of 8×8 and below the grouped
/// 3×3 convolutions are as fast or faster NCHW (bf16 4.2 / 4.4 ms at 8×8, 2.6 / 3.4 ms at 4×4; float32 4.6 / 7.2 ms at
/// 4×4) and the 1×1 ones take the matrix product (<see cref="PointwiseConvAsMatmul"/>), which is faster still and hands
/// back NCHW. So the rule starts above the pointwise limit, counted on the output (a stride-2 convolution from 8×8 to
/// 4×4 stays channels-first, though its padded input has 81 pixels). Above it, float32 1×1 convolutions with at least
/// 256 outputs whose input is already channels-last take the product as well, which keeps the layout
/// (<see cref="PointwiseConvAsMatmul"/>: 0.91–0.97 of this strategy's time).</para>
/// <para>Without AMX (AVX-512-BF16 alone, an AMD EPYC) bf16 1×1 convolutions were measured 10–50 % slower
/// channels-last, so the rule is off there. Narrow convolutions keep the channels-first layout their verification
/// probed (<see cref="NarrowChannelConvolution"/>). Off with <see cref="PlatformSwitches.DisableChannelsLast"/> or
/// <see cref="PlatformSwitches.DisableConvolutionWorkarounds"/>.</para>
/// </remarks>
internal static class ChannelsLastConvolution
{
    private static readonly Lazy<bool> s_enabled = new(() => !PlatformSwitches.DisableChannelsLast.IsOn);

    /// <summary>Whether the strategy may be taken in this process: <see cref="PlatformSwitches.DisableChannelsLast"/> is
    /// not set (read once).</summary>
    public static bool Enabled => s_enabled.Value;

    /// <summary>Whether this process takes the strategy at all: an AMX CPU, and the switch not set.</summary>
    public static bool PreferredHere => CpuFeatures.HasAmxBf16 && Enabled;

    /// <summary>Whether a convolution of <paramref name="input"/> with <paramref name="weight"/> takes the strategy on a
    /// CPU that does (<paramref name="cpuPrefersChannelsLast"/>: AMX, the switch not set) or does not prefer channels-last
    /// convolutions: bf16 or float32 input and weight of one dtype on the CPU, an output map above
    /// <see cref="PointwiseConvAsMatmul.MaxPixels"/> (a stride-2 convolution from 8×8 to 4×4 stays channels-first, though
    /// its padded input has 81 pixels), and trusted channel counts per group (≥ 64, multiples of 16).</summary>
    internal static bool Applies(Tensor input, Tensor weight, long[] stride, long[] padding, long[] dilation, long groups, bool cpuPrefersChannelsLast) =>
        cpuPrefersChannelsLast && input.device_type == DeviceType.CPU &&
        input.dtype is ScalarType.BFloat16 or ScalarType.Float32 && weight.dtype == input.dtype &&
        Shapes.ConvOutputSide(input.size(2), weight.size(2), stride[0], padding[0], dilation[0]) *
        Shapes.ConvOutputSide(input.size(3), weight.size(3), stride[1], padding[1], dilation[1]) > PointwiseConvAsMatmul.MaxPixels &&
        NarrowChannelConvolution.IsTrustedWidth(weight.size(1)) && NarrowChannelConvolution.IsTrustedWidth(weight.size(0) / groups);

    /// <summary>Whether a 4-D tensor is laid out channels-last and dense: strides [H·W·C, 1, W·C, C].</summary>
    internal static bool IsChannelsLast(Tensor x)
    {
        if (x.dim() != 4) return false;
        long c = x.size(1), h = x.size(2), w = x.size(3);
        return x.stride(1) == 1 && x.stride(3) == c && x.stride(2) == w * c && x.stride(0) == h * w * c;
    }

    /// <summary>libtorch's <c>conv2d</c> on the channels-last form of <paramref name="input"/> (<see cref="LayoutConversion"/>:
    /// its gradient comes back in the input's layout); the result is channels-last.</summary>
    internal static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        using var x = LayoutConversion.ToChannelsLast(input);
        return nn.functional.conv2d(x, weight, bias, strides: stride, padding: padding, dilation: dilation, groups: groups);
    }
}
