using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>bf16 1×1 convolutions on small maps run as a batched matrix product, matching float64, only where the rule says.</summary>
public sealed class PointwiseConvAsMatmulTests
{
    private static double Relative(Tensor approx, Tensor exact) => NarrowConvTests.Relative(approx, exact);

    [Theory]
    [InlineData(64, 128, 8, 2)]
    [InlineData(96, 64, 12, 3)]
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

    [Fact]
    public void AppliesOnlyToWideUngroupedStrideOneBf16PointwiseConvsOnSmallMaps()
    {
        long[] one = { 1, 1 }, zero = { 0, 0 };
        using var w = zeros(128, 64, 1, 1, dtype: ScalarType.BFloat16);
        using var small = zeros(2, 64, 12, 12, dtype: ScalarType.BFloat16);
        Assert.True(PointwiseConvAsMatmul.Applies(small, w, one, zero, 1));

        using var large = zeros(2, 64, 13, 12, dtype: ScalarType.BFloat16);         // 156 pixels > 144
        Assert.False(PointwiseConvAsMatmul.Applies(large, w, one, zero, 1));
        using var fp32 = zeros(2, 64, 8, 8);                                           // float32 keeps the convolution
        using var w32 = zeros(128, 64, 1, 1);
        Assert.False(PointwiseConvAsMatmul.Applies(fp32, w32, one, zero, 1));
        Assert.False(PointwiseConvAsMatmul.Applies(small, w, new long[] { 2, 2 }, zero, 1));
        Assert.False(PointwiseConvAsMatmul.Applies(small, w, one, new long[] { 1, 1 }, 1));
        using var grouped = zeros(128, 32, 1, 1, dtype: ScalarType.BFloat16);
        Assert.False(PointwiseConvAsMatmul.Applies(small, grouped, one, zero, 2));
        using var narrow = zeros(24, 64, 1, 1, dtype: ScalarType.BFloat16);           // narrow: the guard's verified paths
        Assert.False(PointwiseConvAsMatmul.Applies(small, narrow, one, zero, 1));
        using var threeByThree = zeros(128, 64, 3, 3, dtype: ScalarType.BFloat16);
        Assert.False(PointwiseConvAsMatmul.Applies(small, threeByThree, one, zero, 1));
    }
}
