using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// The pointwise-as-matmul strategy of <see cref="ConvolutionBackend"/> (a speed path, not a fix): computes a bf16 1×1
/// convolution on a small feature map, or a float32 one on a single pixel, as a matrix product, which libtorch 2.10's
/// CPU backend runs faster than its convolution kernels there.
/// </summary>
/// <remarks>
/// <para>A 1×1, stride-1, ungrouped convolution of <c>x</c> [N, C, H, W] with <c>w</c> [O, C, 1, 1] is
/// <c>w[O, C] · x[n][C, H·W]</c> for each image: the same multiply-adds, no copies (both views are free on contiguous
/// tensors), and autograd differentiates the product.</para>
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
/// </remarks>
internal static class PointwiseConvAsMatmul
{
    /// <summary>Largest H·W the product is used for in bf16 (8×8, the largest size measured faster; see remarks).</summary>
    internal const long MaxPixels = 64;

    /// <summary>Whether this convolution takes the matrix-product path.</summary>
    internal static bool Applies(Tensor input, Tensor weight, long[] stride, long[] padding, long groups) =>
        input.device_type == DeviceType.CPU && weight.dtype == input.dtype &&
        input.shape[2] * input.shape[3] <= MaxPixelsFor(input.dtype) &&
        groups == 1 && weight.shape[2] == 1 && weight.shape[3] == 1 &&
        stride[0] == 1 && stride[1] == 1 && padding[0] == 0 && padding[1] == 0 &&
        NarrowChannelConvolution.IsTrustedWidth(weight.shape[0]) && NarrowChannelConvolution.IsTrustedWidth(weight.shape[1]);

    /// <summary>Largest H·W the product is used for in <paramref name="dtype"/>: 8×8 in bf16, a single pixel in float32
    /// (where MKL's product beats the convolution only as one matrix-matrix product over the batch), none otherwise.</summary>
    internal static long MaxPixelsFor(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => MaxPixels,
        ScalarType.Float32 => 1,
        _ => 0,
    };

    /// <summary>The convolution as <c>w[O, C] · x[N, C, H·W]</c> (plus the bias), shaped [N, O, H, W].</summary>
    internal static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias)
    {
        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3], o = weight.shape[0];
        using var scope = NewDisposeScope();
        var y = matmul(weight.reshape(o, c), input.reshape(n, c, h * w));
        if (bias is not null) y = y.PlusInPlace(bias.reshape(o, 1));
        return y.view(n, o, h, w).MoveToOuterDisposeScope();
    }
}
