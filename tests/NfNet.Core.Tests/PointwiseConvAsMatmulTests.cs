using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>bf16 1×1 convolutions on small maps, and float32 ones on a single pixel (on AMX CPUs: on small maps, and on
/// larger channels-last ones with wide outputs), run as a matrix product, matching
/// float64, only where the rule says.</summary>
public sealed class PointwiseConvAsMatmulTests
{
    private static double Relative(Tensor approx, Tensor exact) => NarrowConvTests.Relative(approx, exact);

    [Theory]
    [InlineData(64, 128, 8, 2)]
    [InlineData(96, 64, 7, 3)]
    [InlineData(128, 256, 1, 4)]   // the Squeeze-Excite FCs see 1×1 maps
    public void MatchesAFloat64ConvolutionForwardAndBackward(long cin, long cout, long size, long batch)
    {
        manual_seed(cin + cout + size);
        using var conv = new ScaledWSConv2d(cin, cout, kernelSize: 1);
        using (no_grad()) conv.Bias!.uniform_(-0.5, 0.5);
        using var x = randn(batch, cin, size, size, dtype: ScalarType.Float64);

        // The reference: the same parameters, rounded to bf16, standardized and convolved in float64.
        using var reference = new ScaledWSConv2d(cin, cout, kernelSize: 1);
        reference.to(ScalarType.BFloat16);
        reference.load_state_dict(conv.to(ScalarType.BFloat16).state_dict());
        reference.to(ScalarType.Float64);
        using var xd = x.to(ScalarType.BFloat16).to(ScalarType.Float64).requires_grad_();
        using var yd = reference.forward(xd);
        using var gy = randn_like(yd);
        (yd * gy).sum().backward();

        using var xs = x.to(ScalarType.BFloat16).requires_grad_();
        Assert.True(PointwiseConvAsMatmul.Applies(xs, conv.Weight, new long[] { 1, 1 }, new long[] { 0, 0 }, 1));
        using var ys = conv.forward(xs);
        Assert.Equal(new[] { batch, cout, size, size }, ys.shape);
        Assert.Equal(ScalarType.BFloat16, ys.dtype);
        (ys * gy.to(ScalarType.BFloat16)).sum().backward();
        Assert.True(Relative(ys, yd) < 0.02, $"forward off by {Relative(ys, yd):E2}");
        Assert.True(Relative(xs.grad!, xd.grad!) < 0.02, $"input gradient off by {Relative(xs.grad!, xd.grad!):E2}");
        Assert.True(Relative(conv.Weight.grad!, reference.Weight.grad!) < 0.05, "weight gradient off");
        Assert.True(Relative(conv.Bias!.grad!, reference.Bias!.grad!) < 0.02, "bias gradient off");
        Assert.True(Relative(conv.Gain.grad!, reference.Gain.grad!) < 0.05, "gain gradient off");
    }

    [Theory]
    [InlineData(64, 128, 2, 1)]
    [InlineData(1536, 768, 8, 1)]   // F0's first Squeeze-Excite FC at batch 8
    [InlineData(768, 1536, 3, 1)]   // and its second
    [InlineData(768, 1536, 2, 8)]   // F0's stage 3 at 128 px (an AMX CPU's rule)
    [InlineData(64, 128, 3, 5)]
    [InlineData(32, 48, 2, 4)]      // narrow, multiples of 16 (an AMX CPU's rule)
    [InlineData(256, 256, 2, 9, true)]   // above 8×8, channels-last (an AMX CPU's rule): the result keeps the layout
    [InlineData(768, 1536, 1, 12, true)] // F0's stage 3 at 192 px
    public void Float32IsTheFloat64ConvolutionForwardAndBackward(long cin, long cout, long batch, long size, bool channelsLast = false)
    {
        using var scope = NewDisposeScope();
        manual_seed(cin + 7 * batch);
        long[] one = { 1, 1 }, zero = { 0, 0 };
        var x64 = randn(batch, cin, size, size, dtype: ScalarType.Float64);
        var w64 = randn(cout, cin, 1, 1, dtype: ScalarType.Float64).DividedByInPlace(Math.Sqrt(cin)); // no implicit Scalar
        var b64 = randn(cout, dtype: ScalarType.Float64);
        // The reference: libtorch's float64 convolution (not oneDNN's) of the values float32 holds.
        Tensor Leaf(Tensor t, ScalarType dtype) => t.to(ScalarType.Float32).to(dtype).requires_grad_();
        var (xr, wr, br) = (Leaf(x64, ScalarType.Float64), Leaf(w64, ScalarType.Float64), Leaf(b64, ScalarType.Float64));
        var yr = nn.functional.conv2d(xr, wr, br);
        var gy = randn_like(yr).to(ScalarType.Float32);
        yr.backward(new[] { gy.to(ScalarType.Float64) });

        var (x, w, b) = (Leaf(x64, ScalarType.Float32), Leaf(w64, ScalarType.Float32), Leaf(b64, ScalarType.Float32));
        if (channelsLast) x = LayoutConversion.ToChannelsLast(x.detach()).requires_grad_();
        Assert.True(PointwiseConvAsMatmul.Applies(x, w, one, zero, 1, amx: true));
        var y = PointwiseConvAsMatmul.Conv2d(x, w, b);
        Assert.Equal(new[] { batch, cout, size, size }, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
        // Channels-first from small maps; above 8×8 the layout it was given. The input's gradient in the input's layout.
        Tensor Layout(Tensor t) => channelsLast ? LayoutConversion.ToChannelsLast(t) : t.contiguous();
        Assert.True(channelsLast ? ChannelsLastConvolution.IsChannelsLast(y) && !y.is_contiguous() : y.is_contiguous(), "layout of the result");
        y.backward(new[] { Layout(gy) });
        Assert.True(channelsLast ? ChannelsLastConvolution.IsChannelsLast(x.grad!) && !x.grad!.is_contiguous() : x.grad!.is_contiguous(),
            "layout of the input's gradient");
        // float32 rounding of sums over up to 1536 products (about 1e-6 here); a wrong product is off by order 1.
        Assert.True(Relative(y, yr) < 1e-5, $"forward off by {Relative(y, yr):E2}");
        Assert.True(Relative(x.grad!, xr.grad!) < 1e-5, $"input gradient off by {Relative(x.grad!, xr.grad!):E2}");
        Assert.True(Relative(w.grad!, wr.grad!) < 1e-5, $"weight gradient off by {Relative(w.grad!, wr.grad!):E2}");
        Assert.True(Relative(b.grad!, br.grad!) < 1e-5, $"bias gradient off by {Relative(b.grad!, br.grad!):E2}");
    }

    [Theory]
    [InlineData(64, 32, 1)]    // the Fashion-MNIST demo model's Squeeze-Excite FC
    [InlineData(64, 48, 4)]
    [InlineData(16, 32, 7)]
    public void NarrowBf16ProductsOnAmxAreTheFloat64Convolution(long cin, long cout, long size)
    {
        using var scope = NewDisposeScope();
        manual_seed(cin * cout + size);
        var x = randn(256, cin, size, size).to(ScalarType.BFloat16).requires_grad_();
        var w = randn(cout, cin, 1, 1).DividedByInPlace(Math.Sqrt(cin)).to(ScalarType.BFloat16).requires_grad_();
        var b = randn(cout).to(ScalarType.BFloat16).requires_grad_();
        Assert.True(PointwiseConvAsMatmul.Applies(x, w, new long[] { 1, 1 }, new long[] { 0, 0 }, 1, amx: true));
        Tensor Leaf(Tensor t) => t.detach().to(ScalarType.Float64).requires_grad_();
        var (xr, wr, br) = (Leaf(x), Leaf(w), Leaf(b));
        var yr = nn.functional.conv2d(xr, wr, br);
        var gy = randn_like(yr);
        yr.backward(new[] { gy });
        var y = PointwiseConvAsMatmul.Conv2d(x, w, b);
        y.backward(new[] { gy.to(ScalarType.BFloat16) });
        Assert.True(Relative(y, yr) < 2e-2, $"forward off by {Relative(y, yr):E2}");
        Assert.True(Relative(x.grad!, xr.grad!) < 2e-2, $"input gradient off by {Relative(x.grad!, xr.grad!):E2}");
        Assert.True(Relative(w.grad!, wr.grad!) < 2e-2, $"weight gradient off by {Relative(w.grad!, wr.grad!):E2}");
        Assert.True(Relative(b.grad!, br.grad!) < 2e-2, $"bias gradient off by {Relative(b.grad!, br.grad!):E2}");
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void GivesTheSameBitsWithAndWithoutGradientsInEitherLayoutAndHandsBackChannelsFirst(ScalarType dtype)
    {
        // libtorch's matmul sums differently when the weight needs no gradient; a frozen model must not move.
        using var scope = NewDisposeScope();
        manual_seed(21);
        var x = randn(2, 1024, 4, 4).to(dtype);   // a ResNet-50 layer-3 shape: long sums, which blocked products split
        var w = randn(256, 1024, 1, 1).DividedByInPlace(Math.Sqrt(1024)).to(dtype);
        var b = randn(256).to(dtype);
        Tensor frozen;
        using (no_grad()) frozen = PointwiseConvAsMatmul.Conv2d(x, w, b);
        var training = PointwiseConvAsMatmul.Conv2d(x, w.detach().requires_grad_(), b.detach().requires_grad_());
        var fromChannelsLast = PointwiseConvAsMatmul.Conv2d(LayoutConversion.ToChannelsLast(x), w, b);
        Assert.True(frozen.equal(training).all().ReadBoolean(), "the product changed with requires_grad");
        Assert.True(frozen.equal(fromChannelsLast).all().ReadBoolean(), "the product changed with the input's layout");
        Assert.True(frozen.is_contiguous() && training.is_contiguous() && fromChannelsLast.is_contiguous(), "not channels-first");
        // And it is the convolution: libtorch's float64 one of the same values.
        var reference = nn.functional.conv2d(x.to(ScalarType.Float64), w.to(ScalarType.Float64), b.to(ScalarType.Float64));
        Assert.True(Relative(frozen, reference) < (dtype == ScalarType.Float32 ? 1e-5 : 2e-2), $"off by {Relative(frozen, reference):E2}");
    }

    [Fact]
    public void AppliesOnlyToWideUngroupedStrideOnePointwiseConvsOnSmallBf16MapsOrOneFloat32Pixel()
    {
        long[] one = { 1, 1 }, zero = { 0, 0 };
        using var w = zeros(128, 64, 1, 1, dtype: ScalarType.BFloat16);
        using var small = zeros(2, 64, 8, 8, dtype: ScalarType.BFloat16);
        Assert.True(PointwiseConvAsMatmul.Applies(small, w, one, zero, 1));
        using var wide = zeros(2, 64, 1, 64, dtype: ScalarType.BFloat16);           // the rule counts pixels, not sides
        Assert.True(PointwiseConvAsMatmul.Applies(wide, w, one, zero, 1));

        using var large = zeros(2, 64, 9, 8, dtype: ScalarType.BFloat16);           // 72 pixels > 64
        Assert.False(PointwiseConvAsMatmul.Applies(large, w, one, zero, 1));
        using var f0Stage3At192 = zeros(2, 64, 12, 12, dtype: ScalarType.BFloat16); // measured faster as a convolution
        Assert.False(PointwiseConvAsMatmul.Applies(f0Stage3At192, w, one, zero, 1));
        using var fp32 = zeros(2, 64, 8, 8);                                           // float32 keeps the convolution
        using var w32 = zeros(128, 64, 1, 1);
        Assert.False(PointwiseConvAsMatmul.Applies(fp32, w32, one, zero, 1));
        Assert.True(PointwiseConvAsMatmul.Applies(fp32, w32, one, zero, 1, amx: true)); // but not on an AMX CPU's MKL
        using var fp32Large = zeros(2, 64, 9, 8);
        Assert.False(PointwiseConvAsMatmul.Applies(fp32Large, w32, one, zero, 1, amx: true));
        using var w256 = zeros(256, 64, 1, 1);                                          // on AMX, above 8×8: channels-last
        using var fp32LargeLast = LayoutConversion.ToChannelsLast(fp32Large);    // and at least 256 outputs
        Assert.True(PointwiseConvAsMatmul.Applies(fp32LargeLast, w256, one, zero, 1, amx: true));
        Assert.False(PointwiseConvAsMatmul.Applies(fp32LargeLast, w256, one, zero, 1));
        Assert.False(PointwiseConvAsMatmul.Applies(fp32LargeLast, w32, one, zero, 1, amx: true));
        Assert.False(PointwiseConvAsMatmul.Applies(fp32Large, w256, one, zero, 1, amx: true));
        using var fp32Pixel = zeros(2, 64, 1, 1);                                      // but for a single pixel
        Assert.True(PointwiseConvAsMatmul.Applies(fp32Pixel, w32, one, zero, 1));
        using var fp32Column = zeros(2, 64, 2, 1);
        Assert.False(PointwiseConvAsMatmul.Applies(fp32Column, w32, one, zero, 1));
        using var fp64Pixel = zeros(2, 64, 1, 1, dtype: ScalarType.Float64);           // float64 is never rerouted
        using var w64 = zeros(128, 64, 1, 1, dtype: ScalarType.Float64);
        Assert.False(PointwiseConvAsMatmul.Applies(fp64Pixel, w64, one, zero, 1));
        using var narrow32 = zeros(24, 64, 1, 1);                                      // narrow: the guard's paths
        Assert.False(PointwiseConvAsMatmul.Applies(fp32Pixel, narrow32, one, zero, 1));
        Assert.False(PointwiseConvAsMatmul.Applies(fp32Pixel, w, one, zero, 1));      // mixed dtypes: libtorch decides
        Assert.False(PointwiseConvAsMatmul.Applies(small, w, new long[] { 2, 2 }, zero, 1));
        Assert.False(PointwiseConvAsMatmul.Applies(small, w, one, new long[] { 1, 1 }, 1));
        using var grouped = zeros(128, 32, 1, 1, dtype: ScalarType.BFloat16);
        Assert.False(PointwiseConvAsMatmul.Applies(small, grouped, one, zero, 2));
        using var narrow = zeros(24, 64, 1, 1, dtype: ScalarType.BFloat16);           // narrow: the guard's verified paths
        Assert.False(PointwiseConvAsMatmul.Applies(small, narrow, one, zero, 1));
        Assert.False(PointwiseConvAsMatmul.Applies(small, narrow, one, zero, 1, amx: true)); // 24: not a multiple of 16
        using var narrow32Bf16 = zeros(32, 64, 1, 1, dtype: ScalarType.BFloat16);     // on AMX, multiples of 16 take it
        Assert.False(PointwiseConvAsMatmul.Applies(small, narrow32Bf16, one, zero, 1));
        Assert.True(PointwiseConvAsMatmul.Applies(small, narrow32Bf16, one, zero, 1, amx: true));
        using var threeByThree = zeros(128, 64, 3, 3, dtype: ScalarType.BFloat16);
        Assert.False(PointwiseConvAsMatmul.Applies(small, threeByThree, one, zero, 1));
    }
}
