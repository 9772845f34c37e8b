using NfNet.Models.Baselines;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Baselines.Tests;

public sealed class NFResNetTests
{
    [Fact]
    public void NFResNet50HasTheExactParameterCount()
    {
        using var model = NFResNet.NFResNet50(device: META);
        // By hand from BN-ResNet-50 v1.5 (25,557,032): every conv there is followed by one BN (γ, β: 2·C_out), and here
        // every block conv carries a bias and a gain instead (2·C_out): equal. The stem conv has a gain but no bias
        // (−64 against its BN), and each of the 16 blocks has one skipinit gain (+16): 25,557,032 − 64 + 16.
        Assert.Equal(25_557_032L - 64 + 16, model.ParameterCount());
        Assert.Equal(25_556_984L, model.ParameterCount());
    }

    [Fact]
    public void NFResNet50HasTheConvolutionsOfResNet50()
    {
        using var model = NFResNet.NFResNet50(device: META);
        // Same layout and strides as v1.5 (stride on the 3×3, projections at the output size): same 4,089,184,256 MACs.
        Assert.Equal(4_089_184_256L, model.CountMacs(224, 224));
        Assert.DoesNotContain(model.modules(), m => m is TorchSharp.Modules.BatchNorm);
    }

    [Fact]
    public void BetaIsTheInverseExpectedStdResetAtEachStage()
    {
        using var model = NFResNet.NFResNet50(device: META);
        var betas = model.Blocks.Select(b => b.Beta).ToArray();
        // DeepMind's rule, by hand (α = 0.2): beta = 1/√var of the block's input; after a stage's first block the expected
        // variance resets to 1, and every block adds α². So a stage's first block still sees the previous stage's
        // grown variance (1.12, 1.16, 1.24 at blocks 3, 7, 13) and the next block sees 1.04.
        double[] expectedVar = { 1, 1.04, 1.08, 1.12, 1.04, 1.08, 1.12, 1.16, 1.04, 1.08, 1.12, 1.16, 1.20, 1.24, 1.04, 1.08 };
        for (var i = 0; i < 16; i++) Assert.Equal(1 / Math.Sqrt(expectedVar[i]), betas[i], 12);
    }

    [Fact]
    public void ResidualStreamVarianceGrowsByAlphaSquaredPerBlock()
    {
        // Signal propagation at init with the skip gains set to 1 (as after training starts): the residual stream's
        // variance should follow the analytic expectation 1 + k·α² within a stage (Brock et al. 2021a).
        manual_seed(3);
        var config = new NFResNetConfig { Depths = new[] { 4 }, Widths = new[] { 64 }, StemWidth = 64, StemPool = false, NumClasses = 0, InChannels = 3 };
        using var model = new NFResNet(config);
        using (no_grad())
            foreach (var b in model.Blocks) b.SkipInitGain.FillInPlace(1.0);
        model.eval();
        using var x = randn(32, 64, 16, 16);
        var h = x;
        var k = 0;
        using (no_grad())
            foreach (var block in model.Blocks)
            {
                h = block.forward(h);
                k++;
                var expected = 1 + k * 0.04;
                var measured = h.var().ReadDouble();
                Assert.InRange(measured / expected, 0.85, 1.15);
            }
    }

    [Fact]
    public void AnyClassCountAndInputChannelsForward()
    {
        manual_seed(0);
        var config = new NFResNetConfig { Depths = new[] { 1, 1 }, Widths = new[] { 8, 16 }, StemWidth = 16, StemPool = false, NumClasses = 7, InChannels = 1 };
        using var model = new NFResNet(config);
        using var y = model.forward(randn(2, 1, 28, 28));
        Assert.Equal(new long[] { 2, 7 }, y.shape);
        Assert.Throws<InvalidInputException>(() => model.forward(randn(2, 3, 28, 28)));
        Assert.Throws<InvalidBaselineConfigException>(() => new NFResNet(config with { Widths = new[] { 8 } }));
    }
}
