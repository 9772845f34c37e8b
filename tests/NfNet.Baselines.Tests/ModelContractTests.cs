using NfNet.Models;
using NfNet.Models.Baselines;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Baselines.Tests;

/// <summary>
/// The model contract, checked over every name in the registry (as timm's <c>tests/test_models.py</c> loops over
/// <c>list_models()</c>): structure and counts for all of them on the meta device, and numerics (forward shape, backward
/// with a finite, non-zero gradient for every parameter, bad input, state-dict round trip, bf16 forward) for every
/// model small enough for a CPU test. Expected counts come from the papers and reference implementations
/// (README tables; spec/param-counts.md).
/// </summary>
public sealed class ModelContractTests
{
    // name → (parameters at 1000 classes, resolution, GMACs at that resolution rounded to 2 decimals)
    private static readonly Dictionary<string, (long Parameters, int Resolution, double GMacs)> Expected = new()
    {
        ["dm_nfnet_f0"] = (71_489_284, 256, 12.38),
        ["dm_nfnet_f1"] = (132_634_256, 320, 35.54),
        ["dm_nfnet_f2"] = (193_779_228, 352, 62.59),
        ["dm_nfnet_f3"] = (254_924_200, 416, 114.76),
        ["dm_nfnet_f4"] = (316_069_172, 512, 215.24),
        ["dm_nfnet_f5"] = (377_214_144, 544, 289.76),
        ["dm_nfnet_f6"] = (438_359_116, 576, 377.28),
        ["dm_nfnet_f7"] = (499_504_088, 608, 478.78),
        ["dm_nf_resnet50"] = (25_556_984, 224, 4.09),
        ["resnet50"] = (25_557_032, 224, 4.09),
        ["resnetv2_50"] = (25_549_352, 224, 4.09),
        ["efficientnetv2_s"] = (21_458_488, 384, 8.37),
        ["efficientnetv2_b0"] = (7_139_704, 224, 0.72),
        ["coatnet_0"] = (24_446_292, 224, 4.55),
    };

    // Models whose full-size backward fits a CPU test (F1–F7 are checked by structure only).
    public static TheoryData<string> SmallEnough => new() { "dm_nfnet_f0", "dm_nf_resnet50", "resnet50", "resnetv2_50", "efficientnetv2_s", "efficientnetv2_b0", "coatnet_0" };

    public static TheoryData<string> AllNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var name in ModelRegistry.Names) data.Add(name);
            return data;
        }
    }

    // The models with a paper's MAC count (timm's NormFreeNet family is checked against timm's table in NfNet.Core.Tests).
    public static TheoryData<string> PaperNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var name in Expected.Keys) data.Add(name);
            return data;
        }
    }

    [Fact]
    public void TheRegistryHasEveryListedModelAndTheNormFreeFamilyAndNothingElse()
    {
        Assert.Equal(Expected.Keys.Union(NormFreeFamily.Names).Order(), ModelRegistry.Names.Order());
        Assert.Equal(37 + 6, ModelRegistry.Names.Count);
        Assert.True(ModelRegistry.Contains("DM_NFNET_F3"));
    }

    [Fact]
    public void AnUnknownNameIsATypedErrorListingTheRegisteredNames()
    {
        var error = Assert.Throws<UnknownModelException>(() => ModelRegistry.Create("resnet51"));
        Assert.Equal("resnet51", error.RequestedName);
        Assert.Contains("coatnet_0", error.Message);
        Assert.Contains("dm_nfnet_f7", error.Message);
        Assert.Equal(new[] { "resnet50" }, error.NearNames);
    }

    [Theory]
    [InlineData("nf_resnet50", "dm_nf_resnet50", "stem.conv.weight", "stem.weight")]  // timm's pre-activation layout vs DeepMind's
    [InlineData("nfnet_f0", "dm_nfnet_f0", "stages.0.0.conv3.gain", "stages.0.0.skipinit_gain")] // γ in the convs, no skipinit
    public void TimmsNameBuildsTimmsLayoutAndDeepMindsItsOwn(string timmName, string deepMindName, string timmKey, string deepMindKey)
    {
        using var timm = ModelRegistry.Create(timmName, device: META);
        using var deepMind = ModelRegistry.Create(deepMindName, device: META);
        Assert.Contains(timmKey, timm.state_dict().Keys);
        Assert.DoesNotContain(deepMindKey, timm.state_dict().Keys);
        Assert.Contains(deepMindKey, deepMind.state_dict().Keys);
        Assert.NotEqual(timm.ParameterCount(), deepMind.ParameterCount());
    }

    [Fact]
    public void TheComparisonModelsPoolByAverageOnly()
    {
        using var resnet = ModelRegistry.Create("resnet50", numClasses: 5, device: META);
        var error = Assert.Throws<ArgumentException>(() => resnet.ResetClassifier(4, GlobalPool.Max));
        Assert.Contains("average only", error.Message);
        Assert.Equal(5, resnet.NumClasses);
    }

    [Theory]
    [InlineData("nf_resnet51", "nf_resnet50")]
    [InlineData("nfnet_f8", "nfnet_f0")]
    [InlineData("eca_nfnet_l9", "eca_nfnet_l0")]
    public void ALookAlikeNameBuildsNothingAndNamesTheNearOnes(string name, string near)
    {
        var error = Assert.Throws<UnknownModelException>(() => ModelRegistry.Create(name, device: META));
        Assert.Contains(near, error.NearNames);
        Assert.Contains("did you mean", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(PaperNames))]
    public void StructureAndCountsMatchThePapers(string name)
    {
        var (parameters, resolution, gmacs) = Expected[name];
        using var model = ModelRegistry.Create(name, device: META);
        Assert.Equal(parameters, model.ParameterCount());
        Assert.Equal(gmacs, Math.Round(model.CountMacs(resolution, resolution) / 1e9, 2));
        Assert.Equal(3, model.InChannels);
        Assert.Equal(1000, model.NumClasses);
        var classifier = model.ClassifierParameters();
        Assert.Equal(2, classifier.Count);
        Assert.Equal(new long[] { 1000, model.NumFeatures }, classifier[0].Parameter.shape);
        Assert.Equal(new long[] { 1000 }, classifier[1].Parameter.shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CountMacs(0, 224));
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void ClassAndChannelOverridesChangeExactlyTheFirstConvAndTheClassifier(string name)
    {
        using var standard = ModelRegistry.Create(name, device: META);
        using var custom = ModelRegistry.Create(name, numClasses: 10, inChannels: 1, device: META);
        Assert.Equal(10, custom.NumClasses);
        Assert.Equal(1, custom.InChannels);
        var first = standard.named_parameters().First(p => p.parameter.dim() == 4);
        var firstCustom = custom.named_parameters().First(p => p.parameter.dim() == 4);
        Assert.Equal(first.name, firstCustom.name);
        var kernel = first.parameter.shape[0] * first.parameter.shape[2] * first.parameter.shape[3];
        // 990 fewer classifier rows (weight + bias) and 2 fewer input channels in the first conv's kernel.
        Assert.Equal(standard.ParameterCount() - 990L * (standard.NumFeatures + 1) - 2 * kernel, custom.ParameterCount());
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(SmallEnough))]
    public void ForwardAndBackwardGiveFiniteNonZeroGradientsForEveryParameter(string name)
    {
        manual_seed(1);
        using var model = ModelRegistry.Create(name, numClasses: 7);
        // Zero-initialised tensors (residual gains, a zero classifier) would hide every gradient upstream of them.
        using (no_grad())
            foreach (var p in model.parameters())
                if (p.abs().max().ReadDouble() == 0) p.normal_(0, 0.1);
        model.eval(); // no dropout or dropped residual branches: every parameter must get a gradient
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 64, 64);
        var logits = model.forward(x);
        Assert.Equal(new long[] { 2, 7 }, logits.shape);
        Assert.True(logits.isfinite().all().ReadBoolean(), $"{name}: non-finite logits");
        nn.functional.cross_entropy(logits, tensor(new long[] { 3, 5 })).backward();
        foreach (var (pname, p) in model.named_parameters())
        {
            Assert.True(p.grad is not null, $"{name}: {pname} has no gradient");
            var norm = p.grad!.norm().ReadDouble();
            Assert.True(double.IsFinite(norm) && norm > 0, $"{name}: {pname} has gradient norm {norm}");
        }
        // forward = forward_head(forward_features(x)); pre-logits are the pooled features.
        using (no_grad())
        {
            var features = model.forward_features(x);
            Assert.Equal(model.NumFeatures, features.shape[1]);
            Assert.True(model.forward_head(features).allclose(logits, rtol: 1e-5, atol: 1e-5));
            Assert.Equal(new long[] { 2, model.NumFeatures }, model.forward_head(features, preLogits: true).shape);
        }
    }

    [Theory]
    [MemberData(nameof(SmallEnough))]
    public void BadInputIsATypedErrorNamingTheExpectedShape(string name)
    {
        using var model = ModelRegistry.Create(name, numClasses: 3, device: META);
        using var wrongChannels = zeros(new long[] { 1, 1, 64, 64 }, device: META);
        var error = Assert.Throws<InvalidInputException>(() => model.forward(wrongChannels));
        Assert.Contains("3", error.Message);
        using var unbatched = zeros(new long[] { 3, 64, 64 }, device: META);
        Assert.Throws<InvalidInputException>(() => model.forward(unbatched));
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(SmallEnough))]
    public void StateDictRoundTripsThroughSafetensorsAndBf16ForwardAgrees(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), $"contract-{name}-{Guid.NewGuid():N}.safetensors");
        try
        {
            manual_seed(2);
            using var model = ModelRegistry.Create(name, numClasses: 5);
            model.eval();
            model.SaveSafetensors(path);
            manual_seed(3);
            using var copy = ModelRegistry.Create(name, numClasses: 5);
            copy.eval();
            copy.LoadSafetensors(path, strict: true);
            foreach (var (key, value) in model.state_dict())
                Assert.True(value.allclose(copy.state_dict()[key], 0, 0), $"{name}: {key} differs after the round trip");

            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var x = randn(2, 3, 64, 64);
            var reference = model.forward(x);
            Assert.True(copy.forward(x).allclose(reference, 0, 0));
            copy.to(ScalarType.BFloat16);
            var bf16 = copy.forward(x.to(ScalarType.BFloat16)).to(ScalarType.Float32);
            var relative = ((bf16 - reference).norm() / reference.norm()).ReadDouble();
            Assert.True(relative < 0.1, $"{name}: bf16 logits differ from float32 by {relative:P1}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>timm's <c>test_model_default_cfgs</c>: with <c>num_classes=0</c>, or after <c>reset_classifier(0)</c>, the
    /// model returns its pooled pre-logit features, finite, [N, NumFeatures], and has no classifier parameters.</summary>
    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(SmallEnough))]
    public void WithoutAClassifierTheModelReturnsItsFinitePooledFeatures(string name)
    {
        manual_seed(4);
        using var headless = ModelRegistry.Create(name, numClasses: 0);
        Assert.Equal(0, headless.NumClasses);
        Assert.Empty(headless.ClassifierParameters());
        manual_seed(4);
        using var reset = ModelRegistry.Create(name, numClasses: 6);
        reset.ResetClassifier(0);
        Assert.Equal(0, reset.NumClasses);
        Assert.Empty(reset.ClassifierParameters());
        Assert.Equal(headless.state_dict().Keys.Order(), reset.state_dict().Keys.Order());
        foreach (var (key, value) in headless.state_dict()) reset.state_dict()[key].requires_grad_(false).copy_(value);
        headless.eval();
        reset.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = randn(2, 3, 64, 64);
        var features = headless.forward(x);
        Assert.Equal(new long[] { 2, headless.NumFeatures }, features.shape);
        Assert.True(features.isfinite().all().ReadBoolean(), $"{name}: non-finite features");
        Assert.True(features.abs().sum().ReadDouble() > 0, $"{name}: all-zero features");
        Assert.True(features.equal(headless.forward_head(headless.forward_features(x), preLogits: true)).all().ReadBoolean());
        Assert.True(reset.forward(x).equal(features).all().ReadBoolean(), $"{name}: ResetClassifier(0) differs from numClasses: 0");
    }

    /// <summary>Every model can be frozen for inference (the contract's <c>OptimizeForInference</c>), and its outputs do
    /// not change; its weight-standardized convolutions then serve their cached weights.</summary>
    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(SmallEnough))]
    public void OptimizeForInferenceFreezesEveryModelWithoutChangingItsOutputs(string name)
    {
        manual_seed(6);
        using var model = ModelRegistry.Create(name, numClasses: 4);
        model.eval();
        using var scope = NewDisposeScope();
        var x = randn(1, 3, 64, 64);
        Tensor before;
        using (no_grad()) before = model.forward(x);
        model.OptimizeForInference();
        Assert.False(model.training);
        Assert.All(model.parameters(), p => Assert.False(p.requires_grad));
        var first = model.forward(x);
        var second = model.forward(x);
        Assert.True(first.equal(before).all().ReadBoolean() && second.equal(before).all().ReadBoolean(), $"{name}: frozen outputs differ");
        var convs = model.modules().OfType<NfNet.Layers.ScaledWSConv2d>().ToList();
        Assert.All(convs, c => Assert.True(c.WeightCacheHits > 0, $"{name}: a ScaledWSConv2d was not served from its cache"));
        Assert.Equal(name is "dm_nfnet_f0" or "dm_nf_resnet50", convs.Count > 0);
    }

    [Theory]
    [MemberData(nameof(SmallEnough))]
    public void ResetClassifierReplacesItInPlaceKeepingTheStateDictOrder(string name)
    {
        using var model = ModelRegistry.Create(name, numClasses: 4, device: META);
        var before = model.state_dict().Keys.ToArray();
        model.ResetClassifier(9);
        Assert.Equal(9, model.NumClasses);
        Assert.Equal(before, model.state_dict().Keys.ToArray());
        Assert.Equal(9, model.ClassifierParameters()[0].Parameter.shape[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ResetClassifier(-1));
    }

    [Fact]
    public void ResidualGainsAreTheZeroInitialisedSkipInitGainsOfNormalizerFreeModels()
    {
        using var nfnet = ModelRegistry.Create("dm_nfnet_f0", device: META);
        using var nfResNet = ModelRegistry.Create("dm_nf_resnet50", device: META);
        using var resnet = ModelRegistry.Create("resnet50", device: META);
        Assert.Equal(12, nfnet.ResidualGainParameters().Count);
        Assert.Equal(16, nfResNet.ResidualGainParameters().Count);
        Assert.All(nfnet.ResidualGainParameters().Concat(nfResNet.ResidualGainParameters()), p => Assert.EndsWith(".skipinit_gain", p.Name));
        Assert.Empty(resnet.ResidualGainParameters());
    }
}
