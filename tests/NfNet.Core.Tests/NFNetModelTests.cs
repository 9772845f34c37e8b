using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>Behaviour of a built network: shapes, modes, custom configurations, bad input.</summary>
public sealed class NFNetModelTests
{
    private static NFNetConfig Small => TestFixtures.TinyConfig with { Name = "small" };

    [Theory]
    [InlineData(32, 32, 1, 1)]
    [InlineData(64, 48, 2, 2)]
    [InlineData(33, 65, 2, 3)]
    [InlineData(5, 5, 1, 1)]
    public void AnyInputSizeGivesCeilOfOneThirtySecond(int h, int w, int fh, int fw)
    {
        using var model = new NFNet(Small);
        model.eval();
        using var _ = no_grad();
        using var x = randn(2, 3, h, w);
        using var features = model.forward_features(x);
        Assert.Equal(new long[] { 2, 256, fh, fw }, features.shape);
        using var logits = model.forward(x);
        Assert.Equal(new long[] { 2, 10 }, logits.shape);
    }

    [Fact]
    public void FreshModelIsTheShortcutPathBecauseSkipInitGainsAreZero()
    {
        using var model = new NFNet(Small);
        Assert.All(model.Blocks, b => Assert.Equal(0.0, b.SkipInitGain!.ReadDouble()));
        Assert.Equal(8, model.Blocks.Count);
        Assert.Equal(0.0, model.Head.Fc.parameters().Last().abs().sum().ReadDouble()); // zero classifier bias
    }

    [Fact]
    public void BackwardReachesEveryParameter()
    {
        using var model = TestFixtures.LoadTiny();
        model.train();
        using var x = randn(2, 3, 32, 32);
        using var target = tensor(new long[] { 1, 7 });
        using var loss = nn.functional.cross_entropy(model.forward(x), target);
        loss.backward();
        foreach (var (name, p) in model.named_parameters())
            Assert.True(p.grad is not null && p.grad.abs().sum().ReadDouble() > 0, $"{name} got no gradient");
    }

    [Fact]
    public void CustomConfigurationBuildsWithItsWidthsAndChannels()
    {
        var config = NFNetVariants.F0 with
        {
            Name = "fashion",
            Widths = new[] { 32, 64, 96, 128 },
            Depths = new[] { 1, 2, 3, 2 },
            StemWidth = 64,
            GroupWidth = 16,
            InChannels = 1,
            NumClasses = 10,
            Activation = ActivationKind.Silu,
        };
        using var model = new NFNet(config);
        Assert.Equal(new long[] { 8, 1, 3, 3 }, model.state_dict()["stem.conv1.weight"].shape);
        Assert.Equal(new long[] { 64, 32, 3, 3 }, model.state_dict()["stem.conv4.weight"].shape);
        model.eval();
        using var x = randn(3, 1, 28, 28);
        using var y = model.forward(x);
        Assert.Equal(new long[] { 3, 10 }, y.shape);
    }

    [Fact]
    public void ResetClassifierChangesTheClassCountOrRemovesIt()
    {
        using var model = new NFNet(Small);
        model.eval();
        model.ResetClassifier(3);
        using var x = randn(1, 3, 32, 32);
        using (var y = model.forward(x)) Assert.Equal(new long[] { 1, 3 }, y.shape);
        Assert.Equal(new long[] { 3, 256 }, model.state_dict()["head.fc.weight"].shape);
        model.ResetClassifier(0);
        using (var y = model.forward(x)) Assert.Equal(new long[] { 1, 256 }, y.shape);
        Assert.DoesNotContain("head.fc.weight", model.state_dict().Keys);
    }

    [Fact]
    public void TrainingModeAppliesDropoutAndStochasticDepth()
    {
        using var model = TestFixtures.LoadTiny();
        var regularised = new NFNet(Small with { DropRate = 0.5, StochasticDepthRate = 0.5 });
        regularised.load_state_dict(model.state_dict());
        using var x = randn(4, 3, 32, 32);
        using var _ = no_grad();
        regularised.eval();
        using var a = regularised.forward(x);
        using var b = regularised.forward(x);
        Assert.True(a.eq(b).all().ReadBoolean());
        regularised.train();
        manual_seed(1);
        using var c = regularised.forward(x);
        Assert.False(a.allclose(c, rtol: 0, atol: 1e-6));
        regularised.Dispose();
    }

    [Fact]
    public void WrongRankRaisesATypedErrorNamingBothShapes()
    {
        using var model = new NFNet(Small);
        using var x = randn(3, 64, 64);
        var e = Assert.Throws<InvalidInputException>(() => model.forward(x));
        Assert.Contains("expected input [N, 3, H, W]", e.Message);
        Assert.Contains("got [3, 64, 64]", e.Message);
    }

    [Fact]
    public void WrongChannelCountRaisesATypedError()
    {
        using var model = new NFNet(Small);
        using var x = randn(1, 1, 64, 64);
        var e = Assert.Throws<InvalidInputException>(() => model.forward(x));
        Assert.Contains("got [1, 1, 64, 64]", e.Message);
    }

    [Fact]
    public void WrongDtypeRaisesATypedError()
    {
        using var model = new NFNet(Small);
        using var x = randn(1, 3, 8, 8, dtype: ScalarType.Float64);
        var e = Assert.Throws<InvalidInputException>(() => model.forward(x));
        Assert.Contains("Float32", e.Message);
        Assert.Contains("Float64", e.Message);
        using var ints = zeros(new long[] { 1, 3, 8, 8 }, dtype: ScalarType.Int64);
        Assert.Throws<InvalidInputException>(() => model.forward(ints));
    }

    public static TheoryData<NFNetConfig, string> InvalidConfigs => new()
    {
        // Widths are rounded as timm rounds them (RoundedConfigParityTests); what stays invalid after rounding is refused.
        { TestFixtures.TinyConfig with { Widths = new[] { 32, 64, 80, 128 }, GroupWidth = 12 }, "cannot be split into 3 groups" },
        { TestFixtures.TinyConfig with { GroupWidth = 128 }, "smaller than the group width 128" },
        { TestFixtures.TinyConfig with { WidthFactor = 0 }, "WidthFactor" },
        { TestFixtures.TinyConfig with { Depths = new[] { 1, 2, 3 } }, "one depth per stage" },
        { TestFixtures.TinyConfig with { Depths = new[] { 1, 0, 3, 2 } }, "depth must be positive" },
        { TestFixtures.TinyConfig with { StemWidth = 2, ChannelDivisor = 2 }, "at least 8 after rounding" },
        { TestFixtures.TinyConfig with { NumClasses = -1 }, "NumClasses" },
        { TestFixtures.TinyConfig with { InChannels = 0 }, "InChannels" },
        { TestFixtures.TinyConfig with { DropRate = 1.0 }, "DropRate" },
        { TestFixtures.TinyConfig with { Activation = ActivationKind.Glu }, "GLU" },
        { TestFixtures.TinyConfig with { Widths = Array.Empty<int>(), Depths = Array.Empty<int>() }, "at least one stage" },
    };

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void InvalidConfigurationRaisesATypedErrorSayingWhy(NFNetConfig config, string reason)
    {
        var e = Assert.Throws<InvalidNFNetConfigException>(() => new NFNet(config, META));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void SummaryNamesTheVariantParametersAndMacs()
    {
        using var model = NFNet.Create("F0", device: META);
        var summary = model.Summary();
        Assert.Contains("71,489,284", summary);
        Assert.Contains("12.38 B", summary);
        Assert.Contains("stage 3", summary);
    }
}
