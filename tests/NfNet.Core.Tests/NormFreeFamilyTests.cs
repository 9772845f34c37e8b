using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// The whole NormFreeNet family against timm: every registered name's parameter count, state-dict key count and key
/// digest from timm's table (Fixtures/family/timm-normfreenet-family.md), built on the meta device; and the five family
/// fixtures (timm's float64 forward on random weights) matched in float64 and float32, every key loaded strictly.
/// </summary>
public sealed class NormFreeFamilyTests
{
    private static string Family(params string[] parts) => TestFixtures.Dir(new[] { "family" }.Concat(parts).ToArray());

    /// <summary>timm's table: name, parameters, state-dict keys, sha256[:12] of "key [shape]" lines.</summary>
    public static TheoryData<string, long, int, string> TimmTable()
    {
        var data = new TheoryData<string, long, int, string>();
        foreach (var line in File.ReadLines(Family("timm-normfreenet-family.md")))
        {
            var m = Regex.Match(line, @"^\| `(\w+)` \| ([\d,]+) \| (\d+) \| (\w+) \|");
            if (m.Success) data.Add(m.Groups[1].Value, long.Parse(m.Groups[2].Value.Replace(",", "")), int.Parse(m.Groups[3].Value), m.Groups[4].Value);
        }
        return data;
    }

    [Fact]
    public void TheTableHasTimmsThirtySixNamesAndTheRegistryHasThemAllWithDeepMindsF7()
    {
        var timm = TimmTable().Select(row => (string)row[0]).ToArray();
        Assert.Equal(36, timm.Length);
        foreach (var name in timm.Append("dm_nfnet_f7")) Assert.True(ModelRegistry.Contains(name), name);
        Assert.Equal(37, NormFreeFamily.Names.Count);
    }

    [Theory]
    [MemberData(nameof(TimmTable))]
    public void EveryNameBuildsTimmsParameterCountAndKeys(string name, long parameters, int keys, string digest)
    {
        using var model = ModelRegistry.Create(name, device: META);
        Assert.Equal(name, model.ModelName);
        Assert.Equal(parameters, model.ParameterCount());
        var state = model.state_dict();
        Assert.Equal(keys, state.Count);
        Assert.Equal(digest, KeyDigest(state));
    }

    [Fact]
    public void DeepMindsF7IsF6sRuleOneStepDeeper()
    {
        // No timm row: F7 is F6's layout at depths 8, 16, 48, 24 (the paper's Table 7), 499,504,088 parameters.
        using var model = ModelRegistry.Create("dm_nfnet_f7", device: META);
        Assert.Equal(499_504_088L, model.ParameterCount());
        Assert.Equal(1457 + 4 * 51, model.state_dict().Count); // 12 more blocks than F6 at 17 tensors each
    }

    [Theory]
    [InlineData("eca_nfnet_l0")]
    [InlineData("nf_regnet_b1")]
    [InlineData("nf_resnet50")]
    [InlineData("nf_seresnet50")]
    [InlineData("nf_ecaresnet50")]
    [InlineData("nfnet_f0")]
    [InlineData("nfnet_l0")]
    public void KeysAndShapesEqualTimmsListInOrder(string name)
    {
        var expected = File.ReadLines(Family("keys", name + ".txt")).Where(l => !l.StartsWith('#') && l.Trim().Length > 0)
            .Select(l => l.Split('\t') is { Length: > 3 } cols ? $"{cols[0]} {cols[3]}" : l.Trim()).ToArray();
        using var model = ModelRegistry.Create(name, device: META);
        Assert.Equal(expected, KeyLines(model.state_dict()));
    }

    public static TheoryData<string> Fixtures() => new() { "test_nfnet", "tiny-eca-nfnet", "tiny-nfnet-f", "tiny-nf-regnet", "tiny-nf-resnet" };

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void TheFixtureConfigurationBuildsTimmsKeysAndCount(string fixture)
    {
        var (config, parameters) = FixtureConfig(fixture);
        using var model = new NFNet(config, META);
        Assert.Equal(parameters, model.ParameterCount());
        var expected = File.ReadLines(Family(fixture, "keys.txt")).Where(l => l.Trim().Length > 0).Select(l => l.Trim()).ToArray();
        Assert.Equal(expected, KeyLines(model.state_dict()));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void MatchesTimmsFloat64ForwardToOneInABillion(string fixture) => CompareWithTimm(fixture, ScalarType.Float64, 1e-9);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void MatchesTimmInFloat32ToOneInTenThousandOfScale(string fixture) => CompareWithTimm(fixture, ScalarType.Float32, 1e-4);

    [Fact]
    public void TimmsRegisteredTestNfnetIsTheFixturesConfiguration()
    {
        var (fromJson, _) = FixtureConfig("test_nfnet");
        var registered = (NFNetConfig)ModelRegistry.Configure("test_nfnet", new ModelOptions { NumClasses = 7 });
        // Same network: every architecture field equal (the recipe fields are the registry's).
        static string Architecture(NFNetConfig c) =>
            JsonSerializer.Serialize(c with { TrainResolution = 0, EvalResolution = 0, RandAugment = default });
        Assert.Equal(Architecture(fromJson), Architecture(registered));
    }

    private static void CompareWithTimm(string fixture, ScalarType dtype, double tolerance)
    {
        var (config, _) = FixtureConfig(fixture);
        using var model = new NFNet(config);
        model.LoadSafetensors(Family(fixture, "weights.safetensors"), strict: true);
        model.to(dtype);
        model.eval();
        var inputs = SafetensorsReader.Load(Family(fixture, "input.safetensors"));
        var expected = SafetensorsReader.Load(Family(fixture, "expected.safetensors"));
        try
        {
            using var _ = no_grad();
            using var x = inputs["input"].to(dtype);
            using var features = model.forward_features(x);
            Check("features", features, expected["features_f64"], tolerance);
            using var preLogits = model.forward_head(features, preLogits: true);
            Check("pre_logits", preLogits, expected["pre_logits_f64"], tolerance);
            using var logits = model.forward(x);
            Check("logits", logits, expected["logits_f64"], tolerance);
            using var odd = inputs["input_odd"].to(dtype);
            using var oddLogits = model.forward(odd);
            Check("logits_odd", oddLogits, expected["logits_odd_f64"], tolerance);
        }
        finally
        {
            foreach (var t in inputs.Values.Concat(expected.Values)) t.Dispose();
        }
    }

    // Float64 against an absolute bound; float32 against the bound times the reference's largest magnitude.
    private static void Check(string what, Tensor actual, Tensor reference, double tolerance)
    {
        Assert.Equal(reference.shape, actual.shape);
        using var a = actual.to(ScalarType.Float64);
        var maxAbs = (a - reference).abs().max().ReadDouble();
        var scale = actual.dtype == ScalarType.Float64 ? 1.0 : Math.Max(1.0, reference.abs().max().ReadDouble());
        Assert.True(maxAbs <= tolerance * scale, $"{what} ({actual.dtype}): max |timm - ours| = {maxAbs:E3}, bound {tolerance * scale:E3}");
        Assert.True(reference.abs().max().ReadDouble() > 1e-3, $"{what}: the reference is too small to test anything");
    }

    private static (NFNetConfig Config, long Parameters) FixtureConfig(string fixture)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Family(fixture, "config.json")));
        var root = document.RootElement;
        var config = NFNetConfig.FromTimm(root.GetProperty("nfcfg").GetRawText(), fixture) with
        {
            NumClasses = root.GetProperty("num_classes").GetInt32(),
            InChannels = root.GetProperty("in_chans").GetInt32(),
        };
        return (config, root.GetProperty("parameters").GetInt64());
    }

    private static string[] KeyLines(IDictionary<string, Tensor> state) =>
        state.Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]").ToArray();

    private static string KeyDigest(IDictionary<string, Tensor> state) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", KeyLines(state)))))[..12];
}
