using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class SqueezeExciteAndStochasticDepthTests
{
    [Fact]
    public void SqueezeExciteMatchesAHandComputation()
    {
        manual_seed(2);
        using var se = new SqueezeExcite(3, 2, gain: 2.0);
        using var x = randn(1, 3, 2, 2, dtype: ScalarType.Float64);
        se.to(ScalarType.Float64);
        var p = se.state_dict();
        var w1 = p["fc1.weight"].reshape(2, 3); var b1 = p["fc1.bias"];
        var w2 = p["fc2.weight"].reshape(3, 2); var b2 = p["fc2.bias"];
        var s = new double[3];
        for (var c = 0; c < 3; c++) s[c] = x[0, c].mean().ReadDouble();
        var hidden = new double[2];
        for (var j = 0; j < 2; j++)
            hidden[j] = Math.Max(0, Enumerable.Range(0, 3).Sum(c => w1[j, c].ReadDouble() * s[c]) + b1[j].ReadDouble());
        using var y = se.forward(x);
        for (var c = 0; c < 3; c++)
        {
            var z = Enumerable.Range(0, 2).Sum(j => w2[c, j].ReadDouble() * hidden[j]) + b2[c].ReadDouble();
            var gate = 2.0 / (1 + Math.Exp(-z));
            for (var i = 0; i < 2; i++)
                for (var k = 0; k < 2; k++)
                    Assert.Equal(gate * x[0, c, i, k].ReadDouble(), y[0, c, i, k].ReadDouble(), 12);
        }
        Assert.Equal(new long[] { 2, 3, 1, 1 }, p["fc1.weight"].shape);
    }

    [Fact]
    public void StochasticDepthIsTheIdentityInEval()
    {
        using var sd = new StochasticDepth(0.5);
        sd.eval();
        using var x = randn(16, 4, 2, 2);
        using var y = sd.forward(x);
        Assert.True(y.eq(x).all().ReadBoolean());
    }

    [Theory]
    [InlineData(StochasticDepthMode.DeepMind, 1.0)]
    [InlineData(StochasticDepthMode.Timm, 1.0 / 0.7)]
    public void StochasticDepthDropsWholeSamplesAndScalesByMode(StochasticDepthMode mode, double keptScale)
    {
        manual_seed(1);
        using var sd = new StochasticDepth(0.3, mode);
        sd.train();
        using var x = ones(4000, 2, 2, 2);
        using var y = sd.forward(x);
        var perSample = y.reshape(4000, -1);
        var first = perSample[.., 0].data<float>().ToArray();
        Assert.True(perSample.eq(perSample[.., ..1]).all().ReadBoolean()); // one decision per sample
        Assert.All(first, v => Assert.True(v == 0f || Math.Abs(v - keptScale) < 1e-5));
        var dropped = first.Count(v => v == 0f) / 4000.0;
        Assert.InRange(dropped, 0.27, 0.33);
    }

    [Fact]
    public void SchedulesDiffer()
    {
        // DeepMind: rate·i/n (block 0 never drops, the last gets less than the rate); timm: linspace(0, rate, n).
        Assert.Equal(0.0, StochasticDepth.RateForBlock(0.25, 0, 12, StochasticDepthMode.DeepMind));
        Assert.Equal(0.25 * 11 / 12, StochasticDepth.RateForBlock(0.25, 11, 12, StochasticDepthMode.DeepMind), 15);
        Assert.Equal(0.25, StochasticDepth.RateForBlock(0.25, 11, 12, StochasticDepthMode.Timm), 15);
    }

    [Fact]
    public void RateOutsideTheUnitIntervalIsRejected() =>
        Assert.Throws<InvalidNFNetConfigException>(() => new StochasticDepth(1.0));
}
