using NfNet.Models;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>The F0–F7 family by structure, parameter count and MACs; full-size models are built on the meta device.</summary>
public sealed class NFNetVariantTests
{
    // spec/param-counts.md (timm dm_nfnet_f0..f6 dumps) and spec §13 (F7, [calc]); tensor counts from the same dumps.
    public static TheoryData<string, long, int> ParameterCounts => new()
    {
        { "F0", 71_489_284, 233 },
        { "F1", 132_634_256, 437 },
        { "F2", 193_779_228, 641 },
        { "F3", 254_924_200, 845 },
        { "F4", 316_069_172, 1049 },
        { "F5", 377_214_144, 1253 },
        { "F6", 438_359_116, 1457 },
        { "F7", 499_504_088, 1661 },
    };

    [Theory]
    [MemberData(nameof(ParameterCounts))]
    public void VariantHasExactParameterAndTensorCounts(string variant, long parameters, int tensors)
    {
        using var model = NFNet.Create(variant, device: META);
        Assert.Equal(parameters, model.ParameterCount());
        Assert.Equal(tensors, model.parameters().Count());
        Assert.Empty(model.buffers());
    }

    [Fact]
    public void ParameterCountFollowsTheClosedForm()
    {
        // spec §13: total(N) = 10,344,312 + 61,144,972·N for F(N-1).
        for (var n = 1; n <= 8; n++)
        {
            using var model = new NFNet(NFNetVariants.All[n - 1], META);
            Assert.Equal(10_344_312L + 61_144_972L * n, model.ParameterCount());
        }
    }

    [Fact]
    public void F0StateDictEqualsTimmNamesShapesAndOrder()
    {
        var expected = File.ReadAllLines(TestFixtures.TimmF0Keys)
            .Where(l => !l.StartsWith('#') && l.Length > 0)
            .Select(l => l.Split('\t'))
            .Select(p => (Name: p[0], Shape: p[3], Numel: long.Parse(p[4])))
            .ToArray();
        Assert.Equal(233, expected.Length);

        using var model = NFNet.Create("F0", device: META);
        var ours = model.state_dict()
            .Select(kv => (Name: kv.Key, Shape: "[" + string.Join(", ", kv.Value.shape) + "]", Numel: kv.Value.numel()))
            .ToArray();
        Assert.Equal(expected, ours);
    }

    [Theory]
    [InlineData("F0", 12.38)]
    [InlineData("F1", 35.54)]
    [InlineData("F2", 62.59)]
    [InlineData("F3", 114.76)]
    [InlineData("F4", 215.24)]
    [InlineData("F5", 289.76)]
    [InlineData("F6", 377.28)]
    [InlineData("F7", 478.78)]
    public void MacCountAtEvalResolutionMatchesThePaper(string variant, double billions)
    {
        // spec §12: DeepMind's count_flops at the eval resolution, in billions of multiply-adds (2 decimals).
        using var model = NFNet.Create(variant, device: META);
        Assert.Equal(billions, Math.Round(model.CountMacs() / 1e9, 2));
    }

    [Theory]
    [InlineData("F0", 6.98)]
    [InlineData("F1", 17.44)]
    [InlineData("F2", 33.14)]
    [InlineData("F3", 67.94)]
    [InlineData("F4", 121.12)]
    [InlineData("F5", 169.50)]
    [InlineData("F6", 228.29)]
    [InlineData("F7", 298.48)]
    public void MacCountAtTrainResolutionMatchesTheSpec(string variant, double billions)
    {
        using var model = NFNet.Create(variant, device: META);
        var res = model.Config.TrainResolution;
        Assert.Equal(billions, Math.Round(model.CountMacs(res, res) / 1e9, 2));
    }

    [Fact]
    public void F0MacCountEqualsAHandCount()
    {
        // Independent arithmetic for F0 at 256: stem 128→64→64→64→32 px ... summed conv by conv.
        long macs = 0;
        macs += 128L * 128 * 16 * 3 * 9 + 128L * 128 * 32 * 16 * 9 + 128L * 128 * 64 * 32 * 9 + 64L * 64 * 128 * 64 * 9;
        var widths = new[] { 256, 512, 1536, 1536 };
        var depths = new[] { 1, 2, 6, 3 };
        long h = 64, cin = 128;
        for (var s = 0; s < 4; s++)
        {
            long w = widths[s], mid = w / 2, g = mid / 128;
            for (var b = 0; b < depths[s]; b++)
            {
                var hin = h;
                if (b == 0 && s > 0) h = (h + 1) / 2;
                macs += hin * hin * mid * cin + 2 * h * h * mid * (mid / g) * 9 + h * h * w * mid + w * (w / 2) * 2;
                if (b == 0) macs += h * h * w * cin;
                cin = w;
            }
        }
        macs += h * h * 3072 * 1536 + 3072 * 1000;
        using var model = NFNet.Create("F0", device: META);
        Assert.Equal(macs, model.CountMacs(256, 256));
    }

    [Fact]
    public void VariantTableHoldsThePaperRecipe()
    {
        var expected = new (string Name, int[] Depths, int Train, int Eval, double Drop, int Magnitude)[]
        {
            ("F0", new[] { 1, 2, 6, 3 }, 192, 256, 0.2, 5),
            ("F1", new[] { 2, 4, 12, 6 }, 224, 320, 0.3, 10),
            ("F2", new[] { 3, 6, 18, 9 }, 256, 352, 0.4, 10),
            ("F3", new[] { 4, 8, 24, 12 }, 320, 416, 0.4, 15),
            ("F4", new[] { 5, 10, 30, 15 }, 384, 512, 0.5, 15),
            ("F5", new[] { 6, 12, 36, 18 }, 416, 544, 0.5, 15),
            ("F6", new[] { 7, 14, 42, 21 }, 448, 576, 0.5, 15),
            ("F7", new[] { 8, 16, 48, 24 }, 480, 608, 0.5, 15),
        };
        Assert.Equal(expected.Length, NFNetVariants.All.Count);
        foreach (var (e, c) in expected.Zip(NFNetVariants.All))
        {
            Assert.Equal(e.Name, c.Name);
            Assert.Equal(e.Depths, c.Depths);
            Assert.Equal(new[] { 256, 512, 1536, 1536 }, c.Widths);
            Assert.Equal((e.Train, e.Eval, e.Drop), (c.TrainResolution, c.EvalResolution, c.DropRate));
            Assert.Equal(new RandAugmentSetting(4, e.Magnitude), c.RandAugment);
            Assert.Equal(3072, c.NumFeatures);
        }
    }

    [Fact]
    public void F0BlockBetasFollowTheExpectedVarianceSchedule()
    {
        // spec §4, F0 betas.
        var expected = new[] { 1, .980581, .980581, .962250, .980581, .962250, .944911, .928477, .912871, .898027, .980581, .962250 };
        var betas = NFBlockSpec.Schedule(NFNetVariants.F0).Select(s => s.Beta).ToArray();
        Assert.Equal(expected.Length, betas.Length);
        for (var i = 0; i < betas.Length; i++) Assert.Equal(expected[i], betas[i], 6);
    }

    [Fact]
    public void F0BlocksHaveTheSpecGroupsAndStrides()
    {
        var specs = NFBlockSpec.Schedule(NFNetVariants.F0);
        Assert.Equal(new[] { 1, 2, 2, 6, 6, 6, 6, 6, 6, 6, 6, 6 }, specs.Select(s => s.Groups));
        Assert.Equal(new[] { 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1 }, specs.Select(s => s.Stride));
        Assert.Equal(4, specs.Count(s => s.IsTransition));
        Assert.All(specs, s => Assert.Equal(s.OutChannels / 2, s.SeChannels));
    }

    [Theory]
    [InlineData("f3", "F3")]
    [InlineData("dm_nfnet_f6", "F6")]
    [InlineData("NFNet-F1", "F1")]
    [InlineData(" DM_NFNET_F7 ", "F7")]
    public void VariantNamesAreAcceptedInTimmAndPaperSpelling(string name, string expected) =>
        Assert.Equal(expected, NFNetVariants.Get(name).Name);

    [Theory]
    [InlineData("nfnet_f0", "dm_nfnet_f0")]
    [InlineData(" NFNet_F3", "dm_nfnet_f3")]
    public void TimmsOwnNfnetNamesAreNotDeepMindVariantsButBuildTimmsNetwork(string name, string deepMind)
    {
        // timm's nfnet_f* has γ inside the convolutions, no skipinit and symmetric padding: another network, which the
        // registry builds under its own name, and which NFNetVariants (DeepMind's F-models) does not return.
        var e = Assert.Throws<UnknownVariantException>(() => NFNetVariants.Get(name));
        Assert.Equal(name, e.RequestedName);
        Assert.Contains(deepMind, e.Message, StringComparison.Ordinal);
        Assert.Contains("NormFreeFamily", e.Message, StringComparison.Ordinal);
        using var timm = ModelRegistry.Create(name.Trim().ToLowerInvariant(), device: META);
        using var dm = ModelRegistry.Create(deepMind, device: META);
        var blocks = dm.state_dict().Keys.Count(k => k.EndsWith(".skipinit_gain"));
        Assert.Equal(dm.ParameterCount() - blocks, timm.ParameterCount()); // one scalar skipinit_gain fewer per block
        Assert.DoesNotContain(timm.state_dict().Keys, k => k.EndsWith("skipinit_gain"));
    }

    [Fact]
    public void UnknownVariantRaisesATypedErrorListingTheKnownOnes()
    {
        var e = Assert.Throws<UnknownVariantException>(() => NFNet.Create("F9", device: META));
        Assert.Equal("F9", e.RequestedName);
        Assert.Contains("F0", e.Message);
        Assert.Contains("F7", e.Message);
    }
}
