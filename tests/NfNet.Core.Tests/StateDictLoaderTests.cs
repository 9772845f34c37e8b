using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class StateDictLoaderTests
{
    private static Dictionary<string, Tensor> Snapshot(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static bool SameAs(nn.Module m, Dictionary<string, Tensor> snapshot) =>
        m.state_dict().All(kv => kv.Value.eq(snapshot[kv.Key]).all().ReadBoolean());

    [Fact]
    public void StrictLoadOfTheFixtureIsExact()
    {
        using var model = new NFNet(TestFixtures.TinyConfig);
        var report = model.LoadSafetensors(TestFixtures.TinyWeights);
        Assert.True(report.IsExact);
        Assert.Equal(165, report.Loaded.Count);
        var weights = SafetensorsReader.Load(TestFixtures.TinyWeights);
        foreach (var (name, t) in model.state_dict()) Assert.True(t.eq(weights[name]).all().ReadBoolean(), name);
    }

    [Fact]
    public void StrictLoadIntoADifferentHeadThrowsAndChangesNothing()
    {
        using var model = new NFNet(TestFixtures.TinyConfig with { NumClasses = 5 });
        var before = Snapshot(model);
        var e = Assert.Throws<StateDictMismatchException>(() => model.LoadSafetensors(TestFixtures.TinyWeights));
        Assert.Contains(e.ShapeMismatched, m => m.StartsWith("head.fc.weight: model [5, 256] vs weights [10, 256]"));
        Assert.Contains(e.ShapeMismatched, m => m.StartsWith("head.fc.bias"));
        Assert.Empty(e.Missing);
        Assert.True(SameAs(model, before));
    }

    [Fact]
    public void NonStrictLoadTakesTheBackboneAndKeepsTheNewClassifier()
    {
        using var model = new NFNet(TestFixtures.TinyConfig with { NumClasses = 5 });
        var head = model.state_dict()["head.fc.weight"].detach().clone();
        var report = model.LoadSafetensors(TestFixtures.TinyWeights, strict: false);
        Assert.Equal(163, report.Loaded.Count);
        Assert.Equal(2, report.ShapeMismatched.Count);
        Assert.True(model.state_dict()["head.fc.weight"].eq(head).all().ReadBoolean());
        using var weights = SafetensorsReader.Load(TestFixtures.TinyWeights)["final_conv.weight"];
        Assert.True(model.state_dict()["final_conv.weight"].eq(weights).all().ReadBoolean());
    }

    [Fact]
    public void MissingAndUnexpectedNamesAreReported()
    {
        using var model = new NFNet(TestFixtures.TinyConfig);
        var weights = SafetensorsReader.Load(TestFixtures.TinyWeights);
        weights.Remove("stages.1.1.conv2b.gain");
        weights["stages.9.0.conv1.weight"] = zeros(1);
        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(model, weights));
        Assert.Equal(new[] { "stages.1.1.conv2b.gain" }, e.Missing);
        Assert.Equal(new[] { "stages.9.0.conv1.weight" }, e.Unexpected);
        var report = StateDictLoader.Load(model, weights, strict: false);
        Assert.Equal(164, report.Loaded.Count);
    }

    [Fact]
    public void Float64WeightsLoadIntoAFloat32ModelAndBf16IntoFloat32Exactly()
    {
        using var model = new NFNet(TestFixtures.TinyConfig);
        var weights = SafetensorsReader.Load(TestFixtures.TinyWeights)
            .ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        StateDictLoader.Load(model, weights);
        foreach (var (name, t) in model.state_dict())
        {
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.True(t.eq(weights[name].to(ScalarType.Float32)).all().ReadBoolean(), name); // bf16 → f32 is exact
        }
    }

    [Fact]
    public void CorruptFileLeavesTheModelUntouched()
    {
        using var model = new NFNet(TestFixtures.TinyConfig);
        var before = Snapshot(model);
        var bytes = File.ReadAllBytes(TestFixtures.TinyWeights);
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, bytes[..(bytes.Length - 4)]);
            Assert.Throws<WeightFileException>(() => model.LoadSafetensors(path));
            Assert.True(SameAs(model, before));
        }
        finally { File.Delete(path); }
    }
}
