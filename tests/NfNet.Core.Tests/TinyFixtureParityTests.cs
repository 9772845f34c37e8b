using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>Forward numerics against timm's outputs for the tiny fixture (weights, inputs and outputs from timm).</summary>
public sealed class TinyFixtureParityTests : IDisposable
{
    private const double Float32Tolerance = 1e-4;
    private const double Float64Tolerance = 1e-9;

    private readonly Dictionary<string, Tensor> _inputs = SafetensorsReader.Load(TestFixtures.TinyInputs);
    private readonly Dictionary<string, Tensor> _expected = SafetensorsReader.Load(TestFixtures.TinyExpected);

    public void Dispose()
    {
        foreach (var t in _inputs.Values.Concat(_expected.Values)) t.Dispose();
    }

    private static void AssertClose(Tensor expected, Tensor actual, double tolerance, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.dtype, actual.dtype);
        var maxAbs = (expected - actual).abs().max().ReadDouble();
        Assert.True(maxAbs <= tolerance, $"{what}: max |timm - ours| = {maxAbs:E3} > {tolerance:E0}");
    }

    [Fact]
    public void FixtureHasTheStateDictOfTheTinyConfig()
    {
        using var model = new NFNet(TestFixtures.TinyConfig);
        var expected = File.ReadAllLines(TestFixtures.Dir("tiny-nfnet", "keys.txt"))
            .Select(l => l.Split('\t')).Select(p => (p[0], p[1])).ToArray();
        var ours = model.state_dict().Select(kv => (kv.Key, "[" + string.Join(", ", kv.Value.shape) + "]")).ToArray();
        Assert.Equal(expected, ours);
        Assert.Equal(299_468, model.ParameterCount());
        Assert.Equal(165, model.parameters().Count());
    }

    [Fact]
    public void StemAndEveryStageMatchTimm()
    {
        using var model = TestFixtures.LoadTiny();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = model.Stem.forward(_inputs["input"]);
        AssertClose(_expected["stem"], x, Float32Tolerance, "stem");
        for (var s = 0; s < model.StageCount; s++)
        {
            x = model.Stage(s).forward(x);
            AssertClose(_expected[$"stage{s}"], x, Float32Tolerance, $"stage{s}");
        }
    }

    [Fact]
    public void FeaturesPreLogitsAndLogitsMatchTimm()
    {
        using var model = TestFixtures.LoadTiny();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var features = model.forward_features(_inputs["input"]);
        AssertClose(_expected["features"], features, Float32Tolerance, "features");
        AssertClose(_expected["pre_logits"], model.forward_head(features, preLogits: true), Float32Tolerance, "pre_logits");
        AssertClose(_expected["logits"], model.forward(_inputs["input"]), Float32Tolerance, "logits");
    }

    [Fact]
    public void OddSizedInputMatchesTimm()
    {
        // 67 px: asymmetric SAME padding (1/1 on odd sizes at stride 2) and ceil-mode average pooling at every stride.
        using var model = TestFixtures.LoadTiny();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        AssertClose(_expected["features_odd"], model.forward_features(_inputs["input_odd"]), Float32Tolerance, "features_odd");
        AssertClose(_expected["logits_odd"], model.forward(_inputs["input_odd"]), Float32Tolerance, "logits_odd");
    }

    [Fact]
    public void Float64ModelMatchesTimmFloat64To1e9()
    {
        using var model = TestFixtures.LoadTiny(ScalarType.Float64);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var input = _inputs["input"].to(ScalarType.Float64);
        AssertClose(_expected["features_f64"], model.forward_features(input), Float64Tolerance, "features_f64");
        AssertClose(_expected["logits_f64"], model.forward(input), Float64Tolerance, "logits_f64");
    }

    [Fact]
    public void BlockConstantsMatchTheFixtureTable()
    {
        // From the fixture README, "Per-block constants (name, beta, has downsample, conv2 stride, conv2 groups)".
        var table = new (string Name, double Beta, bool Downsample, int Stride, int Groups)[]
        {
            ("stages.0.0", 1.0, true, 1, 1),
            ("stages.1.0", 0.98058068, true, 2, 2),
            ("stages.1.1", 0.98058068, false, 1, 2),
            ("stages.2.0", 0.96225045, true, 2, 3),
            ("stages.2.1", 0.98058068, false, 1, 3),
            ("stages.2.2", 0.96225045, false, 1, 3),
            ("stages.3.0", 0.94491118, true, 2, 4),
            ("stages.3.1", 0.98058068, false, 1, 4),
        };
        var specs = NFBlockSpec.Schedule(TestFixtures.TinyConfig);
        Assert.Equal(table.Length, specs.Count);
        for (var i = 0; i < table.Length; i++)
        {
            Assert.Equal(table[i].Name, specs[i].Name);
            Assert.Equal(table[i].Beta, specs[i].Beta, 1e-8);
            Assert.Equal(table[i].Downsample, specs[i].IsTransition);
            Assert.Equal(table[i].Stride, specs[i].Stride);
            Assert.Equal(table[i].Groups, specs[i].Groups);
        }
    }
}
