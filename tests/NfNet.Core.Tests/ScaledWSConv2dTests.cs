using MathNet.Numerics.Statistics;
using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class ScaledWSConv2dTests
{
    private static double[] Unit(Tensor w, int o) => w[o].flatten().to(ScalarType.Float64).data<double>().ToArray();

    private static ScaledWSConv2d RandomConv(WeightStandardization formula, long groups = 1, long stride = 1, long kernel = 3)
    {
        manual_seed(11);
        var conv = new ScaledWSConv2d(4, 6, kernel, stride, groups: groups, standardization: formula);
        using (no_grad())
        {
            conv.Weight.TimesInPlace(3.0).PlusInPlace(0.7);           // non-zero mean, non-unit variance
            conv.Gain.uniform_(0.5, 1.5);
            conv.Bias!.uniform_(-0.2, 0.2);
        }
        return conv;
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(2L)]
    public void TimmStandardizationMatchesADoubleReference(long groups)
    {
        using var conv = RandomConv(WeightStandardization.Timm, groups);
        using var w = conv.StandardizedWeight();
        var fanIn = conv.FanIn;
        for (var o = 0; o < 6; o++)
        {
            var raw = Unit(conv.Weight, o);
            var mean = raw.Mean();
            var variance = raw.PopulationVariance();
            var gain = conv.Gain[o].flatten()[0].ReadDouble();
            var expected = raw.Select(v => (v - mean) / Math.Sqrt(variance + 1e-5) * gain / Math.Sqrt(fanIn)).ToArray();
            var actual = Unit(w, o);
            for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-6);
        }
    }

    [Fact]
    public void DeepMindStandardizationMatchesADoubleReference()
    {
        using var conv = RandomConv(WeightStandardization.DeepMind);
        using var w = conv.StandardizedWeight();
        for (var o = 0; o < 6; o++)
        {
            var raw = Unit(conv.Weight, o);
            var mean = raw.Mean();
            var scale = 1.0 / Math.Sqrt(Math.Max(raw.PopulationVariance() * conv.FanIn, 1e-4));
            var gain = conv.Gain[o].flatten()[0].ReadDouble();
            var actual = Unit(w, o);
            for (var i = 0; i < raw.Length; i++) Assert.Equal((raw[i] - mean) * scale * gain, actual[i], 1e-6);
        }
    }

    [Fact]
    public void StandardizedUnitsHaveZeroMeanAndVarianceOneOverFanIn()
    {
        using var conv = new ScaledWSConv2d(16, 8, 3);
        using var w = conv.StandardizedWeight();
        for (var o = 0; o < 8; o++)
        {
            var unit = Unit(w, o);
            var rawVariance = Unit(conv.Weight, o).PopulationVariance();
            Assert.Equal(0.0, unit.Mean(), 1e-6);
            // Exactly 1/fan_in up to the epsilon inside the square root: var/(var + eps) / fan_in.
            var expected = rawVariance / (rawVariance + ScaledWSConv2d.TimmEps) / conv.FanIn;
            Assert.Equal(expected, unit.PopulationVariance(), 1e-8);
        }
    }

    [Fact]
    public void InitIsScaledNormalWithUnitGainAndZeroBias()
    {
        manual_seed(3);
        using var conv = new ScaledWSConv2d(64, 256, 3);
        var std = conv.Weight.std().ReadDouble();
        Assert.Equal(1.0 / Math.Sqrt(64 * 9), std, 3);
        Assert.True(conv.Gain.eq(Scalars.One).all().ReadBoolean());
        Assert.True(conv.Bias!.eq(Scalars.Zero).all().ReadBoolean());
        Assert.Equal(new long[] { 256, 1, 1, 1 }, conv.Gain.shape);
    }

    [Theory]
    [InlineData(8L, 0L, 1L)]  // even size at stride 2: 0 before, 1 after (TF SAME), unlike PyTorch's padding=1
    [InlineData(7L, 1L, 1L)]  // odd size: 1 and 1
    [InlineData(1L, 1L, 1L)]
    public void SamePaddingAtStride2IsAsymmetricOnEvenSizes(long size, long before, long after) =>
        Assert.Equal((before, after), SamePadding.For(size, 3, 2));

    [Fact]
    public void StridedConvEqualsExplicitAsymmetricPaddingThenValidConv()
    {
        using var conv = RandomConv(WeightStandardization.Timm, stride: 2);
        manual_seed(5);
        using var x = randn(2, 4, 8, 8);
        using var _ = no_grad();
        using var y = conv.forward(x);
        Assert.Equal(new long[] { 2, 6, 4, 4 }, y.shape);
        using var w = conv.StandardizedWeight();
        using var padded = nn.functional.pad(x, new long[] { 0, 1, 0, 1 });
        using var reference = nn.functional.conv2d(padded, w, conv.Bias, strides: new long[] { 2, 2 });
        Assert.True(y.allclose(reference, rtol: 0, atol: 1e-6));

        // PyTorch's symmetric padding=1 gives a different answer here: the padding choice matters.
        using var symmetric = nn.functional.conv2d(x, w, conv.Bias, strides: new long[] { 2, 2 }, padding: new long[] { 1, 1 });
        Assert.False(y.allclose(symmetric, rtol: 0, atol: 1e-3));
    }

    [Fact]
    public void GradientsReachWeightGainAndBias()
    {
        using var conv = RandomConv(WeightStandardization.Timm);
        using var x = randn(2, 4, 5, 5);
        conv.forward(x).Squared().sum().backward();
        foreach (var p in new[] { conv.Weight, conv.Gain, conv.Bias! })
            Assert.True(p.grad is not null && p.grad.abs().sum().ReadDouble() > 0);
    }

    [Fact]
    public void WrongChannelCountRaisesATypedError()
    {
        using var conv = new ScaledWSConv2d(4, 6, 3);
        using var x = randn(1, 3, 8, 8);
        var e = Assert.Throws<InvalidInputException>(() => conv.forward(x));
        Assert.Contains("[N, 4, H, W]", e.Message);
        Assert.Contains("[1, 3, 8, 8]", e.Message);
    }

    [Fact]
    public void GroupsThatDoNotDivideTheChannelsAreRejected() =>
        Assert.Throws<InvalidNFNetConfigException>(() => new ScaledWSConv2d(6, 8, 3, groups: 4));
}
