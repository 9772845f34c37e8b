using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// Works around a CPU convolution defect of libtorch 2.10 as TorchSharp 0.107 ships it (related upstream report:
/// pytorch/pytorch#163347, "Incorrect bf16 results in Conv", on AMD CPUs, fixed there by disabling mkldnn).
/// When a convolution's per-group input or output channel count is not a multiple of 16, oneDNN's plain-layout
/// kernels return wrong values — 20–60 % relative error, sometimes NaN, different from one call to the next — in
/// bf16 <i>and</i> float32, in the forward pass and in the input gradient. Measured here on an AMD EPYC (AVX-512,
/// AVX-512-BF16) against float64 over a 7×7 grid of channel counts; multiples of 16 were always right, and PyTorch
/// 2.6 on the same machine is right. TorchSharp has no switch for mkldnn and zero-padding the channels was not
/// reliable, so these convolutions run in float64 (which takes libtorch's non-mkldnn path, the one that matches timm
/// to 1e-9) and the result is cast back to the input's type; gradients flow through the casts. In NFNet-F only the
/// first stem conv (3 input channels, 0.06 % of F0's MACs) is narrow; small custom models pay a little more.
/// bf16 1×1 convolutions with narrow channels are affected too (float32 1×1 ones were not), so the Squeeze-Excite
/// FCs go through here as well.
/// </summary>
internal static class CpuNarrowConvGuard
{
    private const long SafeMultiple = 16;

    /// <summary>Whether this convolution would run on the defective path.</summary>
    public static bool Applies(Tensor input, long inChannels, long outChannels, long groups) =>
        input.device_type == DeviceType.CPU &&
        input.dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 &&
        ((outChannels / groups) % SafeMultiple != 0 || (inChannels / groups) % SafeMultiple != 0);

    /// <summary><c>conv2d</c>, computed in float64 when <see cref="Applies"/> says the native kernel would be wrong.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        var outChannels = weight.shape[0];
        var inChannels = weight.shape[1] * groups;
        return Applies(input, inChannels, outChannels, groups)
            ? InFloat64(input, weight, bias, stride, padding, dilation, groups)
            : nn.functional.conv2d(input, weight, bias, strides: stride, padding: padding, dilation: dilation, groups: groups);
    }

    /// <summary>The convolution computed in float64 and returned in the input's type.</summary>
    private static Tensor InFloat64(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.conv2d(
            input.to(ScalarType.Float64), weight.to(ScalarType.Float64), bias?.to(ScalarType.Float64),
            strides: stride, padding: padding, dilation: dilation, groups: groups);
        return y.to(input.dtype).MoveToOuterDisposeScope();
    }
}
