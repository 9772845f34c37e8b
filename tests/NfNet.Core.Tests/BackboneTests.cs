using System.Text.Json;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// NormFreeNets as backbones: timm's <c>feature_info</c> worked out by hand from timm's rules for three layouts, the
/// feature maps against the full forward (float64, timm's test_nfnet fixture), their sizes at odd inputs, and output
/// stride 16 and 8 through dilation.
/// </summary>
public sealed class BackboneTests
{
    public static TheoryData<string, int, string> Layouts() => new()
    {
        // name, output stride, (channels, reduction, module) of each map
        { "eca_nfnet_l0", 32, "64 2 stem.conv3|256 4 stages.0|512 8 stages.1|1536 16 stages.2|2304 32 final_conv" },
        { "eca_nfnet_l0", 16, "64 2 stem.conv3|256 4 stages.0|512 8 stages.1|1536 16 stages.2|2304 16 final_conv" },
        { "eca_nfnet_l0", 8, "64 2 stem.conv3|256 4 stages.0|512 8 stages.1|1536 8 stages.2|2304 8 final_conv" },
        // 3×3 stem at stride 2, widths × 0.75 rounded to 8: 40, 80, 160, 328; final conv 1280 × 0.75.
        { "nf_regnet_b1", 32, "40 2 stem.conv|40 4 stages.0|80 8 stages.1|160 16 stages.2|960 32 final_conv" },
        // 7×7 stem with a max pool: the first stage does not stride; no final conv.
        { "nf_resnet50", 32, "64 2 stem.conv|256 4 stages.0|512 8 stages.1|1024 16 stages.2|2048 32 stages.3" },
        { "dm_nfnet_f0", 32, "64 2 stem.conv3|256 4 stages.0|512 8 stages.1|1536 16 stages.2|3072 32 final_conv" },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void FeatureInfoIsTimmsAndTheMapsHaveItsSizes(string name, int outputStride, string expected)
    {
        var config = (NFNetConfig)ModelRegistry.Configure(name) with { OutputStride = outputStride };
        using var model = new NFNet(config, META);
        Assert.Equal(expected, string.Join("|", model.FeatureInfo.Select(f => $"{f.Channels} {f.Reduction} {f.Module}")));
        foreach (var f in model.FeatureInfo) Assert.Contains(model.state_dict().Keys, k => k.StartsWith(f.Module + ".", StringComparison.Ordinal));
        // The weights are the same at every output stride: a checkpoint of one loads into another.
        using var standard = ModelRegistry.Create(name, device: META);
        Assert.Equal(standard.state_dict().Select(kv => (kv.Key, string.Join(",", kv.Value.shape))), model.state_dict().Select(kv => (kv.Key, string.Join(",", kv.Value.shape))));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(16)]
    [InlineData(8)]
    public void MapsAreCeilOfTheInputOverTheirReductionAtAnyOutputStride(int outputStride)
    {
        manual_seed(2);
        using var model = ModelRegistry.Create("test_nfnet", new ModelOptions { NumClasses = 0 });
        using var dilated = new NFNet(((NFNet)model).Config with { OutputStride = outputStride });
        dilated.eval();
        using var _ = no_grad();
        using var x = randn(1, 3, 67, 45);
        var maps = dilated.ForwardFeatureMaps(x);
        try
        {
            Assert.Equal(dilated.FeatureInfo.Count, maps.Count);
            foreach (var (map, info) in maps.Zip(dilated.FeatureInfo))
                Assert.Equal(new long[] { 1, info.Channels, (67 + info.Reduction - 1) / info.Reduction, (45 + info.Reduction - 1) / info.Reduction }, map.shape);
            Assert.Equal(outputStride, dilated.FeatureInfo[^1].Reduction);
        }
        finally
        {
            foreach (var m in maps) m.Dispose();
        }
    }

    [Fact]
    public void TheMapsAreTheFullForwardsIntermediatesAndASubsetIsTheSameMaps()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(TestFixtures.Dir("family", "test_nfnet", "config.json")));
        var config = NFNetConfig.FromTimm(document.RootElement.GetProperty("nfcfg").GetRawText(), "test_nfnet") with { NumClasses = 7 };
        using var model = new NFNet(config);
        model.LoadSafetensors(TestFixtures.Dir("family", "test_nfnet", "weights.safetensors"), strict: true);
        model.to(ScalarType.Float64);
        model.eval();
        var inputs = SafetensorsReader.Load(TestFixtures.Dir("family", "test_nfnet", "input.safetensors"));
        var expected = SafetensorsReader.Load(TestFixtures.Dir("family", "test_nfnet", "expected.safetensors"));
        try
        {
            using var _ = no_grad();
            var x = inputs["input"].to(ScalarType.Float64);
            var maps = model.ForwardFeatureMaps(x);
            // By hand: the stem's conv3 output, then each stage on the stem's output; final_conv before final_act.
            var stem = model.Stem.call(x);
            var h = stem;
            for (var s = 0; s < model.StageCount; s++)
            {
                h = model.Stage(s).call(h);
                if (s < model.StageCount - 1) Assert.True(maps[s + 1].allclose(h, 0, 0), $"stage {s}");
            }
            using var features = model.forward_features(x);
            // final_act (SiLU, γ in the convolutions) of the last map is the trunk's output: timm's features.
            Assert.True(nn.functional.silu(maps[^1]).allclose(features, 0, 0));
            Assert.True((features - expected["features_f64"]).abs().max().ReadDouble() < 1e-9);
            Assert.Equal(new long[] { x.shape[0], 64, x.shape[2] / 2, x.shape[3] / 2 }, maps[0].shape); // stem.conv3: 128 / 2
            var subset = model.ForwardFeatureMaps(x, 3, 1);
            Assert.Equal(2, subset.Count);
            Assert.True(subset[0].allclose(maps[1], 0, 0) && subset[1].allclose(maps[3], 0, 0));
            Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardFeatureMaps(x, 5));
            Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardFeatureMaps(x, 1, 1));
        }
        finally
        {
            foreach (var t in inputs.Values.Concat(expected.Values)) t.Dispose();
        }
    }

    [Fact]
    public void DilatedStagesFollowTimmsSchedule()
    {
        var config = (NFNetConfig)ModelRegistry.Configure("eca_nfnet_l0") with { OutputStride = 8 };
        var firstBlocks = NFBlockSpec.Schedule(config).Where(b => b.Index == 0).Select(b => (b.Stride, b.FirstDilation, b.Dilation)).ToArray();
        // Stages 0-1 stride as usual; stage 2 dilates by 2 (its first conv not yet), stage 3 by 4 (its first conv by 2).
        Assert.Equal(new[] { (1, 1, 1), (2, 1, 1), (1, 1, 2), (1, 2, 4) }, firstBlocks);
        Assert.All(NFBlockSpec.Schedule(config).Where(b => b.Stage == 3 && b.Index > 0), b => Assert.Equal((4, 4), (b.FirstDilation, b.Dilation)));
        Assert.Throws<InvalidNFNetConfigException>(() => config with { OutputStride = 4 } is var c ? c.Validate() : null);
    }

    [Fact]
    public void ADilatedShortcutPoolsAtStrideOneOverAZeroPaddedEdge()
    {
        // timm's AvgPool2dSame(2, 1): pad one zero row and column at the end, average every 2×2 window of 4.
        var config = TestFixtures.TinyConfig with { Widths = new[] { 16 }, Depths = new[] { 1 }, StemWidth = 8, GroupWidth = 8 };
        var spec = new NFBlockSpec("b", 0, 0, 0, 2, 3, 8, 1, Stride: 1, Beta: 1, Alpha: 0.2, SeChannels: 0, StochasticDepthRate: 0, Dilation: 2, FirstDilation: 1);
        using var shortcut = new DownsampleAvg(spec, config);
        using var x = tensor(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9 }).reshape(1, 2, 3, 3);
        // Channel 0 [[1,2,3],[4,5,6],[7,8,9]] → [[3, 4, 2.25], [6, 7, 3.75], [3.75, 4.25, 2.25]].
        var pooled = new float[] { 3, 4, 2.25f, 6, 7, 3.75f, 3.75f, 4.25f, 2.25f };
        using var byHand = tensor(pooled.Concat(pooled).ToArray()).reshape(1, 2, 3, 3);
        using var _ = no_grad();
        using var expected = shortcut.Conv.forward(byHand);
        using var actual = shortcut.forward(x);
        Assert.True(actual.allclose(expected, 1e-6, 1e-6));
    }
}
