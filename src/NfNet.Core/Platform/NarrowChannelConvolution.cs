using System.Collections.Concurrent;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// The narrow-channel strategy of <see cref="ConvolutionBackend"/>: works around CPU convolution defects of libtorch 2.10 as TorchSharp 0.107 ships it (related upstream report:
/// pytorch/pytorch#163347, "Incorrect bf16 results in Conv", on AMD CPUs, fixed there by disabling mkldnn).
/// Measured here on an AMD EPYC (AVX-512, AVX-512-BF16) against float64: oneDNN returns wrong values — 10–60 %
/// relative error, sometimes NaN, different from one call to the next — in bf16 <i>and</i> float32, in the forward
/// pass or the input gradient, when a convolution's per-group channel count is not a multiple of 16, and also for
/// some multiples (48 → 16 at stride 2: the input gradient is 10 % off while 32 → 16 and 64 → 32 are right).
/// PyTorch 2.6 on the same machine is right, and TorchSharp has no switch for mkldnn.
/// </summary>
/// <remarks>
/// <para>Because the pattern is not a simple rule, each distinct small convolution is <b>verified once per process</b>
/// on CPU: a probe (batch 2, the real channels, kernel, stride, padding and spatial size, a private random
/// generator) runs forward and backward through the candidate paths and compares output, input gradient and weight
/// gradient with libtorch's float64 path (which does not use oneDNN and matches timm to 1e-9). The first correct path
/// is cached: the native convolution (only for multiples of 16: with narrow channels the defect is intermittent, so a
/// probe cannot clear it); the same convolution with the channels zero-padded to multiples of 16 (exact, and about as
/// fast as native); for a depthwise convolution (one channel per group), a sum of k² shifted, per-channel-scaled views of the
/// input (elementwise work only); or im2col (<c>unfold</c>) followed by a matrix product, which avoids the convolution
/// kernels altogether. Convolutions whose per-group channels are both ≥ 64 are not probed (never seen wrong, and a float64
/// probe of them costs seconds) and run natively, as do all convolutions off the CPU or in float64.</para>
/// <para>Costs: a probe takes milliseconds; the zero-padded path costs what a convolution of the padded width costs.
/// The first version computed every narrow convolution in float64 (about 1 GMAC/s), which made the 1 → 8 → 16 stem
/// of a Fashion-MNIST NFNet 70 % of its training step. The Squeeze-Excite FCs (1×1 convs) go through here as well.</para>
/// </remarks>
internal static class NarrowChannelConvolution
{
    /// <summary>How a convolution is computed. The channels-last paths are the same computation on an NHWC input, which
    /// oneDNN's AVX2 kernels read without reordering (<see cref="Candidates"/>).</summary>
    internal enum ConvPath { Native, ZeroPadded, MatrixProduct, ShiftedSum, NativeChannelsLast, ZeroPaddedChannelsLast }

    /// <summary>Up to this many input channels per group, a float32 convolution on an AVX2-class CPU tries unfold + product
    /// first: zero-padding them to 16 multiplies the work by 16 / channels (a Fashion-MNIST stem's 1 → 8 convolution).</summary>
    internal const long MaxProductInputChannels = 4;

    private const long Multiple = 16;
    private const long TrustedWidth = 64;
    private static readonly ConcurrentDictionary<ProbeKey, ConvPath> Verdicts = new();

    private readonly record struct ProbeKey(long InPerGroup, long OutPerGroup, long Groups, long Kh, long Kw, long Sh, long Sw,
        long Ph, long Pw, long Dh, long Dw, long H, long W, ScalarType DType);

    /// <summary>The paths chosen so far (for tests and diagnostics).</summary>
    internal static IReadOnlyDictionary<string, ConvPath> Chosen =>
        Verdicts.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value);

    /// <summary>Whether a per-group channel count is wide enough to run natively without a probe (≥ 64, a multiple of 16).</summary>
    internal static bool IsTrustedWidth(long channels) => channels >= TrustedWidth && channels % Multiple == 0;

    /// <summary><c>conv2d</c> through the path verified for this shape on this machine, in the layout the verification
    /// probed: an input in the other layout would reach other oneDNN kernels, which no probe has checked. The layout is
    /// changed by <see cref="LayoutConversion"/>, so the gradient goes back in the input's layout.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        var path = PathFor(input, weight, stride, padding, dilation, groups);
        if (path is ConvPath.NativeChannelsLast or ConvPath.ZeroPaddedChannelsLast || input.is_contiguous())
            return Run(path, input, weight, bias, stride, padding, dilation, groups);
        using var dense = LayoutConversion.ToChannelsFirst(input);
        return Run(path, dense, weight, bias, stride, padding, dilation, groups);
    }

    /// <summary>Whether a CPU convolution needs a verified path: a reduced-precision or float32 dtype and a per-group
    /// channel count below the trusted width (≥ 64 and a multiple of 16).</summary>
    internal static bool NeedsVerification(Tensor input, Tensor weight, long groups) =>
        input.device_type == DeviceType.CPU && input.dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 &&
        !(IsTrustedWidth(weight.size(1)) && IsTrustedWidth(weight.size(0) / groups));

    /// <summary>The path used for this convolution (probing it the first time).</summary>
    internal static ConvPath PathFor(Tensor input, Tensor weight, long[] stride, long[] padding, long[] dilation, long groups)
    {
        if (!NeedsVerification(input, weight, groups)) return ConvPath.Native;
        long outPerGroup = weight.size(0) / groups, inPerGroup = weight.size(1);
        var key = new ProbeKey(inPerGroup, outPerGroup, groups, weight.size(2), weight.size(3), stride[0], stride[1],
            padding[0], padding[1], dilation[0], dilation[1], input.size(2), input.size(3), input.dtype);
        return Verdicts.GetOrAdd(key, Probe);
    }

    /// <summary>The convolution computed by <paramref name="path"/>, in the layout it is given (tests call it directly).</summary>
    internal static Tensor Run(ConvPath path, Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups) =>
        path switch
        {
            ConvPath.ZeroPadded => ZeroPadded(input, weight, bias, stride, padding, dilation),
            ConvPath.MatrixProduct => AsMatrixProduct(input, weight, bias, stride, padding, dilation, groups),
            ConvPath.ShiftedSum => AsShiftedSum(input, weight, bias, stride, padding, dilation),
            ConvPath.NativeChannelsLast => ChannelsLastConvolution.Conv2d(input, weight, bias, stride, padding, dilation, groups),
            ConvPath.ZeroPaddedChannelsLast => ZeroPadded(input, weight, bias, stride, padding, dilation, channelsLast: true),
            _ => nn.functional.conv2d(input, weight, bias, strides: stride, padding: padding, dilation: dilation, groups: groups),
        };

    private static ConvPath Probe(ProbeKey k)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        using var generator = new Generator(0x5eed);
        var cin = k.InPerGroup * k.Groups;
        var cout = k.OutPerGroup * k.Groups;
        var x64 = randn(new long[] { 2, cin, k.H, k.W }, ScalarType.Float64, generator: generator);
        var w64 = randn(new long[] { cout, k.InPerGroup, k.Kh, k.Kw }, ScalarType.Float64, generator: generator)
            .DividedByInPlace(Math.Sqrt(k.InPerGroup * k.Kh * k.Kw));
        long[] stride = { k.Sh, k.Sw }, padding = { k.Ph, k.Pw }, dilation = { k.Dh, k.Dw };
        // The reference, from the values the probe's dtype can represent.
        var xr = x64.to(k.DType).to(ScalarType.Float64).requires_grad_(true);
        var wr = w64.to(k.DType).to(ScalarType.Float64).requires_grad_(true);
        var yr = nn.functional.conv2d(xr, wr, strides: stride, padding: padding, dilation: dilation, groups: k.Groups);
        var gy = randn(Shapes.Of(yr), ScalarType.Float64, generator: generator).to(k.DType);
        yr.backward(new[] { gy.to(ScalarType.Float64) });
        var tolerance = k.DType == ScalarType.Float32 ? 1e-4 : 3e-2;

        var outputPixels = Shapes.ConvOutputSide(k.H, k.Kh, k.Sh, k.Ph, k.Dh) * Shapes.ConvOutputSide(k.W, k.Kw, k.Sw, k.Pw, k.Dw);
        foreach (var path in Candidates(k.InPerGroup, k.OutPerGroup, k.Groups, outputPixels, Avx2Float32(k.DType)))
        {
            var ok = true;
            for (var attempt = 0; attempt < 3 && ok; attempt++)
            {
                var x = x64.to(k.DType).requires_grad_(true);
                var w = w64.to(k.DType).requires_grad_(true);
                var y = Run(path, x, w, null, stride, padding, dilation, k.Groups);
                y.backward(new[] { gy });
                ok = Close(y, yr, tolerance) && Close(x.grad!, xr.grad!, tolerance) && Close(w.grad!, wr.grad!, tolerance);
            }
            if (ok) return path;
        }
        return ConvPath.MatrixProduct;
    }

    /// <summary>Whether a probe of <paramref name="dtype"/> takes the AVX2-class paths: float32 on a CPU whose convolutions
    /// run on oneDNN's AVX2 kernels (<see cref="CpuFeatures.IsAvx2Class"/>), the channels-last switch not set.</summary>
    internal static bool Avx2Float32(ScalarType dtype) =>
        dtype == ScalarType.Float32 && CpuFeatures.IsAvx2Class && ChannelsLastConvolution.Enabled;

    /// <summary>The paths a probe tries, in order, for a convolution with these channels per group and output pixels;
    /// the first that matches float64 is kept, and unfold + product when none does. <paramref name="avx2Float32"/>: float32
    /// on an AVX2-class CPU (<see cref="Avx2Float32"/>).</summary>
    /// <remarks>
    /// <para>Everywhere: narrow channels (not multiples of 16) never run natively, because there the defect is
    /// intermittent (uninitialised reads: a probe can pass and the next call return NaN); they are zero-padded to 16
    /// (one group), summed from shifted views (depthwise) or computed as a product. Multiples of 16 below 64 are probed
    /// natively, which catches the consistent 48 → 16 case.</para>
    /// <para>On the AVX2 class in float32 the same computations take a channels-last input first, wherever the output has
    /// more than one pixel: oneDNN's AVX2 kernels read NHWC directly, while an NCHW tensor is reordered to its blocked
    /// layout and back on every call, forward and backward. A convolution with at most
    /// <see cref="MaxProductInputChannels"/> input channels takes unfold + product first. Measured on an AMD EPYC Zen 3
    /// (benchmarks/README.md, "Narrow convolutions on AVX2"). On AVX-512 CPUs these convolutions stay channels-first:
    /// there they run in bf16 or were not measured in float32, and the blocked AVX-512 kernels are the ones the
    /// channels-first rule was measured with.</para>
    /// </remarks>
    internal static IReadOnlyList<ConvPath> Candidates(long inPerGroup, long outPerGroup, long groups, long outputPixels, bool avx2Float32)
    {
        var narrow = inPerGroup % Multiple != 0 || outPerGroup % Multiple != 0;
        var channelsLast = avx2Float32 && outputPixels > 1;
        if (!narrow) return channelsLast ? new[] { ConvPath.NativeChannelsLast, ConvPath.Native } : new[] { ConvPath.Native };
        if (groups == 1)
        {
            if (avx2Float32 && inPerGroup <= MaxProductInputChannels) return new[] { ConvPath.MatrixProduct };
            return channelsLast ? new[] { ConvPath.ZeroPaddedChannelsLast, ConvPath.ZeroPadded } : new[] { ConvPath.ZeroPadded };
        }
        return inPerGroup == 1 && outPerGroup == 1 ? new[] { ConvPath.ShiftedSum } : Array.Empty<ConvPath>();
    }

    private static bool Close(Tensor actual, Tensor reference, double tolerance)
    {
        var error = (actual.to(ScalarType.Float64) - reference).norm().ReadDouble();
        var scale = reference.norm().ReadDouble();
        return double.IsFinite(error) && error <= tolerance * Math.Max(scale, 1e-12);
    }

    private static long Up(long c) => (c + Multiple - 1) / Multiple * Multiple;

    /// <summary>The convolution with input and output channels zero-padded to multiples of 16 (groups = 1); exact.</summary>
    private static Tensor ZeroPadded(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation,
        bool channelsLast = false)
    {
        using var scope = NewDisposeScope();
        long cin = weight.size(1), cout = weight.size(0);
        var x = cin == Up(cin) ? input : nn.functional.pad(input, new long[] { 0, 0, 0, 0, 0, Up(cin) - cin });
        if (channelsLast) x = LayoutConversion.ToChannelsLast(x);
        var w = cin == Up(cin) && cout == Up(cout) ? weight : nn.functional.pad(weight, new long[] { 0, 0, 0, 0, 0, Up(cin) - cin, 0, Up(cout) - cout });
        var b = bias is null || cout == Up(cout) ? bias : nn.functional.pad(bias, new long[] { 0, Up(cout) - cout });
        var y = nn.functional.conv2d(x, w, b, strides: stride, padding: padding, dilation: dilation);
        if (cout != Up(cout)) y = y.narrow(1, 0, cout);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The convolution as unfold + matmul: <c>y[n, g·O/G + o, l] = Σ_k W[g, o, k] · cols[n, g, k, l]</c>.</summary>
    private static Tensor AsMatrixProduct(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        using var scope = NewDisposeScope();
        long n = input.size(0), h = input.size(2), w = input.size(3);
        long o = weight.size(0), kh = weight.size(2), kw = weight.size(3);
        var oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
        var ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
        // cols: [N, C·kh·kw, L] with C outermost, the order of weight.reshape(O, C/G·kh·kw) within each group.
        var cols = nn.functional.unfold(input, (kh, kw), (dilation[0], dilation[1]), (padding[0], padding[1]), (stride[0], stride[1]));
        Tensor y;
        if (groups == 1)
        {
            y = weight.reshape(o, -1).matmul(cols);                                      // [N, O, L]
        }
        else
        {
            var k = weight.size(1) * kh * kw;
            var grouped = cols.reshape(n, groups, k, oh * ow);                           // [N, G, K, L]
            y = weight.reshape(groups, o / groups, k).matmul(grouped).reshape(n, o, -1); // [N, O, L]
        }
        y = y.reshape(n, o, oh, ow);
        if (bias is not null) y = y.Plus(bias.reshape(1, o, 1, 1));
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>A depthwise convolution (one input and one output channel per group) as a sum of kh·kw shifted,
    /// per-channel-scaled views of the padded input: elementwise work only, no convolution kernel, exact in float32.</summary>
    private static Tensor AsShiftedSum(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation)
    {
        using var scope = NewDisposeScope();
        long c = input.size(1), h = input.size(2), w = input.size(3), kh = weight.size(2), kw = weight.size(3);
        var oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
        var ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
        var x = padding[0] == 0 && padding[1] == 0 ? input : nn.functional.pad(input, new[] { padding[1], padding[1], padding[0], padding[0] });
        var taps = weight.reshape(c, kh * kw);
        Tensor? y = null;
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++)
            {
                var r0 = i * dilation[0];
                var c0 = j * dilation[1];
                var view = x.slice(2, r0, r0 + (oh - 1) * stride[0] + 1, stride[0]).slice(3, c0, c0 + (ow - 1) * stride[1] + 1, stride[1]);
                var term = view * taps[TensorIndex.Colon, i * kw + j].reshape(1, c, 1, 1);
                y = y is null ? term : y.PlusInPlace(term);
            }
        if (bias is not null) y = y!.PlusInPlace(bias.reshape(1, c, 1, 1));
        return y!.MoveToOuterDisposeScope();
    }
}
