using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// timm rounds a NormFreeNet's widths (<c>make_divisible</c>) and corrects the bottleneck width to whole groups; the
/// <c>rounded-nfnet</c> fixture (Fixtures/rounded-nfnet/README.md) is such a model, whose stage widths 40/56/88/120 at
/// ratio 0.5 give bottlenecks 20/28/44/60 that timm rounds to 24/32/48/64. Built from the same config, our model has
/// timm's structure and parameter count, loads its weights strictly, and reproduces its float64 logits.
/// </summary>
public sealed class RoundedConfigParityTests
{
    private static readonly NFNetConfig Config = new()
    {
        Name = "rounded-nfnet",
        Widths = new[] { 40, 56, 88, 120 },
        Depths = new[] { 1, 2, 1, 1 },
        StemWidth = 16,
        GroupWidth = 8,
        NumClasses = 5,
        DropRate = 0.0,
        StochasticDepthRate = 0.0,
    };

    private static string File(string name) => TestFixtures.Dir("rounded-nfnet", name);

    [Fact]
    public void BlocksHaveTimmsRoundedBottleneckGroupsAndSeWidths()
    {
        // The fixture's README: (name, bottleneck width, conv2 groups, SE width) per block.
        var expected = new[]
        {
            ("stages.0.0", 24, 3, 24), ("stages.1.0", 32, 4, 32), ("stages.1.1", 32, 4, 32), ("stages.2.0", 48, 6, 48), ("stages.3.0", 64, 8, 64),
        };
        var specs = NFBlockSpec.Schedule(Config).Select(s => (s.Name, s.MidChannels, s.Groups, s.SeChannels)).ToArray();
        Assert.Equal(expected, specs);
        using var model = new NFNet(Config, META);
        Assert.Equal(143_492, model.ParameterCount());
        Assert.Equal(240, model.NumFeatures);
    }

    [Fact]
    public void LoadsTimmWeightsAndMatchesItsFloat64Logits()
    {
        using var model = new NFNet(Config);
        model.LoadSafetensors(File("weights.safetensors"), strict: true);
        model.to(ScalarType.Float64);
        model.eval();
        var inputs = SafetensorsReader.Load(File("input.safetensors"));
        var expected = SafetensorsReader.Load(File("expected.safetensors"));
        try
        {
            using var _ = no_grad();
            foreach (var (input, reference) in new[] { ("input", "logits_f64"), ("input_odd", "logits_odd_f64") })
            {
                using var logits = model.forward(inputs[input].to(ScalarType.Float64));
                Assert.Equal(expected[reference].shape, logits.shape);
                var maxAbs = (logits - expected[reference]).abs().max().ReadDouble();
                Assert.True(maxAbs <= 1e-9, $"{input}: max |timm - ours| = {maxAbs:E3}");
            }
        }
        finally
        {
            foreach (var t in inputs.Values.Concat(expected.Values)) t.Dispose();
        }
    }

    [Theory]
    [InlineData(24, 0.5, 8, 8, 16)]     // 24·0.5 = 12 rounds to 16; group width 8 is a multiple of 8: 2 groups of 8
    [InlineData(40, 0.5, 16, 8, 16)]    // 20 rounds to 24; 24 // 16 = 1 group, corrected to 16
    [InlineData(56, 0.25, 8, 8, 16)]    // 14 rounds to 16
    public void BottleneckWidthIsRoundedAsTimmRoundsIt(int width, double ratio, int groupWidth, int divisor, int expectedMid)
    {
        var config = new NFNetConfig
        {
            Widths = new[] { width }, Depths = new[] { 1 }, StemWidth = 16, BottleneckRatio = ratio,
            GroupWidth = groupWidth, ChannelDivisor = divisor
        }.Validate();
        var block = NFBlockSpec.Schedule(config).Single();
        Assert.Equal(expectedMid, block.MidChannels);
        Assert.Equal(expectedMid / groupWidth, block.Groups);
    }

    [Fact]
    public void AGroupWiderThanTheRoundedBottleneckIsRefusedAfterRounding()
    {
        var config = new NFNetConfig { Widths = new[] { 24 }, Depths = new[] { 1 }, StemWidth = 16, GroupWidth = 32 };
        var error = Assert.Throws<InvalidNFNetConfigException>(() => config.Validate());
        Assert.Contains("smaller than the group width 32", error.Message);
    }
}
