using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// The pointwise-as-matmul strategy of <see cref="ConvolutionBackend"/> (a speed path, not a fix): computes a bf16 1×1
/// convolution on a small feature map, or a float32 one on a single pixel (on an Intel CPU with AMX: on a small map, or
/// on a larger channels-last one with at least 256 outputs), as a matrix product, which libtorch 2.10's CPU backend runs
/// faster than its convolution kernels there.
/// </summary>
/// <remarks>
/// <para>A 1×1, stride-1, ungrouped convolution of <c>x</c> [N, C, H, W] with <c>w</c> [O, C, 1, 1] is the product of
/// the pixels' rows <c>x[N·H·W, C]</c> with <c>w[O, C]ᵀ</c>: the same multiply-adds, and autograd differentiates the
/// product.</para>
/// <para>Measured on the 2-core AVX-512-BF16 machine of <c>benchmarks/README.md</c> (forward + backward, bf16,
/// 768 ↔ 1536 channels, re-measured on 2026-12-04 at batch 8, 16 and 32): the product took 0.65–0.78 of the
/// convolution's time at 4×4, 0.84–0.88 at 6×6, 0.88–1.02 at 7×7 and 8×8, and 1.02–1.14 from 9×9 to 12×12, at every
/// batch size. So bf16 takes the product up to 8×8 (F0's stage 4 at 128–256 px, stage 3 at 128 px); at F0's 192 px
/// training size the 12×12 stage-3 convolutions stay convolutions, which made the mixed-precision step at batch 32
/// about 6 % faster than the earlier 12×12 limit. In float32 the product (MKL) ran at half the
/// convolution's rate on every map but one: a single pixel, the Squeeze-Excite FCs on the pooled [N, C, 1, 1] input,
/// where the convolution is a product of [N, C] with the weight and oneDNN's kernel is the slower one (F0's two SE FCs,
/// 1536 → 768 → 1536, forward + backward: 4.4 ms as convolutions, 2.7 ms as the product at batch 8; 9.9 and 4.9 ms at
/// batch 32). So float32 takes the product only there. Narrow channels (below 64, or not multiples of 16) are left to
/// <see cref="NarrowChannelConvolution"/>'s verified paths.</para>
/// <para>On a 2-core Intel Xeon with AMX (Emerald Rapids; benchmarks/README.md, "Intel AMX") MKL's float32 product runs
/// at its full rate, and it beats oneDNN's float32 1×1 convolution on every small map measured (forward + backward, F0's
/// 768 ↔ 1536 channels): 19.2 against 20.5 ms at 8×8 and 4.9 against 6.3 ms at 4×4 (batch 8), 18.5 against 27.7 ms for
/// the 1536 → 3072 final convolution at 4×4, 40.4 against 48.0 ms at 6×6, batch 32. So on AMX CPUs float32 takes the
/// product up to 8×8 as bf16 does (the MKL on an AMD EPYC ran it at half the convolution's rate: the rule
/// above). On AMX CPUs the product also takes 1×1 convolutions narrower than 64 channels (multiples of 16): oneDNN's AMX
/// weight gradient of those (`brgconv_bwd_w`) took 670 ms a call for the Fashion-MNIST demo model's Squeeze-Excite
/// FCs (64 → 32 at batch 256 on one pixel) and for its 64 → 32 convolutions on 4×4 maps, which made the demo's epochs
/// 360–650 s (a busy machine) against 23–35 s with the product.</para>
/// <para>Above 8×8 on an AMX CPU, where the float32 activations are channels-last (<see cref="ChannelsLastConvolution"/>),
/// the rows of the input are a view and the product's output is already channels-last, so the product costs no copy
/// there either. It beat oneDNN's channels-last float32 1×1 convolution (<c>brgconv_1x1</c>) on F0's shapes (scratch
/// timings of forward + backward, calls alternated, ratio product / convolution): 0.91–0.93 at 12×12, batch 32 (768 ↔
/// 1536 channels: F0's stage 3 at its 192 px training size), 0.91–1.00 at 16×16, batch 8, 0.93–0.96 at 24×24, batch 32,
/// 0.94–1.00 at 32×32, batch 8, 0.97 at 48×48, batch 32 (128 → 256); only outputs of 128 channels were not faster
/// (1.00 at 32×32, 1.05 at 48×48: 256 → 128). So float32 on AMX CPUs also takes the product on larger channels-last maps
/// for outputs of at least <see cref="MinLargeMapOutputs"/> channels, and keeps the output channels-last there.</para>
/// </remarks>
internal static class PointwiseConvAsMatmul
{
    /// <summary>Largest H·W the product is used for in bf16 (8×8, the largest size measured faster; see remarks).</summary>
    internal const long MaxPixels = 64;

    /// <summary>Fewest output channels for which a float32 1×1 convolution on a channels-last map above
    /// <see cref="MaxPixels"/> takes the product on an AMX CPU (128-channel outputs measured no faster; see remarks).</summary>
    internal const long MinLargeMapOutputs = 256;

    /// <summary>Whether this convolution takes the matrix-product path on a CPU without AMX (the rule measured on an AMD
    /// EPYC).</summary>
    internal static bool Applies(Tensor input, Tensor weight, long[] stride, long[] padding, long groups) =>
        Applies(input, weight, stride, padding, groups, amx: false);

    /// <summary>Whether this convolution takes the matrix-product path on a CPU with (<paramref name="amx"/>) or without
    /// Intel AMX (<see cref="CpuFeatures.HasAmxBf16"/>).</summary>
    internal static bool Applies(Tensor input, Tensor weight, long[] stride, long[] padding, long groups, bool amx) =>
        input.device_type == DeviceType.CPU && weight.dtype == input.dtype &&
        groups == 1 && weight.size(2) == 1 && weight.size(3) == 1 &&
        stride[0] == 1 && stride[1] == 1 && padding[0] == 0 && padding[1] == 0 &&
        Wide(weight.size(0), amx) && Wide(weight.size(1), amx) &&
        (input.size(2) * input.size(3) <= MaxPixelsFor(input.dtype, amx) || OnLargeChannelsLastMap(input, weight, amx));

    // float32 above the pointwise limit on an AMX CPU: a channels-last input (its rows are a view, and the output stays
    // channels-last) and at least MinLargeMapOutputs output channels.
    private static bool OnLargeChannelsLastMap(Tensor input, Tensor weight, bool amx) =>
        amx && input.dtype == ScalarType.Float32 && weight.size(0) >= MinLargeMapOutputs && ChannelsLastConvolution.IsChannelsLast(input);

    // Channel counts the product takes: trusted widths (≥ 64, multiples of 16); on AMX CPUs any multiple of 16, since
    // there oneDNN's bf16 weight gradient of narrow 1×1 convolutions on small maps is pathologically slow (the
    // Fashion-MNIST demo model's SE FC, 64 → 32 channels at batch 256: about 670 ms a call).
    private static bool Wide(long channels, bool amx) =>
        amx ? channels % 16 == 0 : NarrowChannelConvolution.IsTrustedWidth(channels);

    /// <summary>Largest H·W the product is used for in <paramref name="dtype"/>: 8×8 in bf16; in float32 8×8 on an Intel
    /// CPU with AMX (where MKL's product runs at its full rate) and otherwise a single pixel (where MKL's product beats
    /// the convolution only as one matrix-matrix product over the batch); none in other dtypes.</summary>
    internal static long MaxPixelsFor(ScalarType dtype, bool amx) => dtype switch
    {
        ScalarType.BFloat16 => MaxPixels,
        ScalarType.Float32 => amx ? MaxPixels : 1,
        _ => 0,
    };

    /// <summary>The convolution as one product <c>x[N·H·W, C] · w[O, C]ᵀ</c> (plus the bias), shaped [N, O, H, W]:
    /// channels-last when the input is channels-last and its map is above <see cref="MaxPixels"/> (the layers after it
    /// keep that layout there: <see cref="ChannelsLastConvolution"/>), else channels-first (the convolutions after it on
    /// small maps run channels-first). The rows of a channels-last input are a view; a channels-first one is transposed
    /// by one copy, as libtorch's <c>matmul</c> folds it when the weight needs a gradient, whose gradient comes back
    /// channels-first (<see cref="LayoutConversion"/>). Written out rather than left to <c>matmul</c>
    /// so that the arithmetic is the same with and without gradients: <c>matmul</c> folds only when the weight requires
    /// a gradient and otherwise runs a batched product over an expanded weight, which summed differently (a frozen model's
    /// outputs moved by float32 rounding) and ran 1.3–25× slower (scratch timing, forward + backward, F0's 1×1 shapes).</summary>
    internal static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias)
    {
        long n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3), o = weight.size(0);
        using var scope = NewDisposeScope();
        // The rows are a view of the channels-last form; a channels-first input is copied into it by a conversion
        // whose gradient comes back channels-first, in the layout of the activations around it (LayoutConversion).
        // On a single pixel (the Squeeze-Excite FCs) the rows are a view of either layout.
        var rows = (h * w == 1 ? input : LayoutConversion.ToChannelsLast(input)).permute(0, 2, 3, 1).reshape(n * h * w, c);
        var y = rows.mm(weight.reshape(o, c).t());
        if (bias is not null) y = y.PlusInPlace(bias);
        var result = y.view(n, h, w, o).permute(0, 3, 1, 2);
        var keepChannelsLast = h * w > MaxPixels && ChannelsLastConvolution.IsChannelsLast(input);
        return (keepChannelsLast ? result : result.contiguous()).MoveToOuterDisposeScope();
    }
}
