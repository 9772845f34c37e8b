using System.Text.Json;
using NfNet.Hub;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Tests.Hub;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// The published-weights table against timm's <c>pretrained_cfg</c> of all 14 tags (Fixtures/family/
/// timm-normfreenet-family.md), name and <c>name.tag</c> resolution, the evaluation data each tag gives its model, and
/// published weights loaded by tag from a Hugging Face cache laid out by hand, with timm's input-channel adaptation.
/// </summary>
public sealed class PublishedWeightsTests : IDisposable
{
    private const string Commit = "89abcdef0123456789abcdef0123456789abcdef";
    private readonly string _cache = Directory.CreateTempSubdirectory("nfnet-published-").FullName;

    public void Dispose() => Directory.Delete(_cache, recursive: true);

    private static Dictionary<string, JsonElement> TimmConfigs()
    {
        var text = File.ReadAllText(TestFixtures.Dir("family", "timm-normfreenet-family.md"));
        var start = text.IndexOf("```json", StringComparison.Ordinal) + 7;
        var json = text[start..text.IndexOf("```", start, StringComparison.Ordinal)];
        return JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;
    }

    [Fact]
    public void EveryTagHoldsTimmsWholePretrainedConfig()
    {
        var timm = TimmConfigs();
        Assert.Equal(14, timm.Count);
        Assert.Equal(timm.Keys.Order(), PublishedWeights.All.Select(w => w.Name).Order());
        foreach (var w in PublishedWeights.All)
        {
            var c = timm[w.Name];
            Assert.Equal(c.GetProperty("hf_hub_id").GetString() + w.Name, w.HubId);
            Assert.Equal(c.GetProperty("num_classes").GetInt32(), w.NumClasses);
            Assert.Equal(c.GetProperty("input_size")[2].GetInt32(), w.InputSize);
            Assert.Equal(c.TryGetProperty("test_input_size", out var test) ? test[2].GetInt32() : null, w.TestInputSize);
            Assert.Equal(c.GetProperty("pool_size")[0].GetInt32(), w.PoolSize);
            Assert.Equal(c.GetProperty("crop_pct").GetDouble(), w.CropPercent);
            Assert.Equal(c.TryGetProperty("test_crop_pct", out var testCrop) ? testCrop.GetDouble() : null, w.TestCropPercent);
            Assert.Equal(c.GetProperty("crop_mode").GetString(), w.CropMode);
            Assert.Equal(c.GetProperty("interpolation").GetString(), w.Interpolation);
            Assert.Equal(c.GetProperty("mean").EnumerateArray().Select(e => e.GetDouble()), w.Mean);
            Assert.Equal(c.GetProperty("std").EnumerateArray().Select(e => e.GetDouble()), w.Std);
            Assert.Equal(c.GetProperty("first_conv").GetString(), w.FirstConv);
            Assert.Equal(c.GetProperty("classifier").GetString(), w.Classifier);
            Assert.Equal(c.GetProperty("license").GetString(), w.License);
            // The weights fit their model: the first conv and the classifier are where timm says, and the pool size is
            // the side of the trunk's output (stride 32) at the training size.
            using var model = ModelRegistry.Create(w.Model, device: META);
            Assert.Contains(w.FirstConv + ".weight", model.state_dict().Keys);
            Assert.Contains(w.Classifier + ".weight", model.state_dict().Keys);
            Assert.Equal((w.InputSize + 31) / 32, w.PoolSize);
        }
    }

    [Theory]
    [InlineData("eca_nfnet_l0", "eca_nfnet_l0.ra2_in1k")]
    [InlineData("ECA_NFNET_L2", "eca_nfnet_l2.ra3_in1k")]
    [InlineData("test_nfnet.r160_in1k", "test_nfnet.r160_in1k")]
    [InlineData(" dm_nfnet_f3 ", "dm_nfnet_f3.dm_in1k")]
    public void ANameMeansItsDefaultTagAndANameWithATagThatTag(string name, string expected) =>
        Assert.Equal(expected, PublishedWeights.Resolve(name).Name);

    [Theory]
    [InlineData("eca_nfnet_l3")]              // registered, but nothing published
    [InlineData("eca_nfnet_l0.ra3_in1k")]     // a tag timm does not publish
    public void UnpublishedWeightsAreATypedErrorNamingTheNearOnes(string name)
    {
        var error = Assert.Throws<UnknownModelException>(() => PublishedWeights.Resolve(name));
        Assert.NotEmpty(error.NearNames);
        Assert.Throws<UnknownModelException>(() => ModelRegistry.Create(name + ".x", device: META));
    }

    [Theory]
    [InlineData("eca_nfnet_l0", 224, 288, 1.0, "center", 0.485)]    // the test crop at the test size, as timm resolves it
    [InlineData("dm_nfnet_f0", 192, 256, 0.9, "squash", 0.485)]
    [InlineData("nf_resnet50", 256, 288, 0.94, "center", 0.485)]
    [InlineData("test_nfnet", 160, 160, 0.95, "center", 0.5)]
    public void AModelsEvaluationDataIsItsPublishedTags(string name, int input, int test, double crop, string mode, double mean)
    {
        using var model = ModelRegistry.Create(name, device: META);
        var data = model.PretrainedConfig;
        Assert.Equal((input, test, crop, mode, mean, "bicubic"), (data.InputSize, data.TestInputSize, data.CropPercent, data.CropMode, data.Mean[0], data.Interpolation));
        Assert.Equal(PublishedWeights.DefaultFor(name)!.HubId, data.HubId);
    }

    [Fact]
    public void AMemberWithoutPublishedWeightsHasItsOwnSizesAndNoHubId()
    {
        using var model = ModelRegistry.Create("nf_regnet_b3", device: META);
        Assert.Null(model.PretrainedConfig.HubId);
        Assert.Equal((288, 320, "center"), (model.PretrainedConfig.InputSize, model.PretrainedConfig.TestInputSize, model.PretrainedConfig.CropMode));
        var error = Assert.Throws<ArgumentException>(() => ModelRegistry.Create("nf_regnet_b3", pretrained: true));
        Assert.Contains("no published weights", error.Message);
    }

    [Fact]
    public void ATagLoadsStrictlyFromACacheLaidOutByHandWithTimmsInputChannelAdaptation()
    {
        // What `hf_hub_download("timm/test_nfnet.r160_in1k", "model.safetensors")` leaves behind, with seeded weights.
        manual_seed(5);
        using var published = ModelRegistry.Create("test_nfnet");
        var file = Path.Combine(_cache, "weights.safetensors");
        published.SaveSafetensors(file);
        HandLaidCache.LayOut(_cache, "timm/test_nfnet.r160_in1k", Commit, File.ReadAllBytes(file));
        var hub = HubSettings.From(name => name switch { "HF_HUB_CACHE" => _cache, "HF_HUB_OFFLINE" => "1", _ => null });
        var state = published.state_dict();

        using var same = ModelRegistry.Create("test_nfnet.r160_in1k", new ModelOptions { Pretrained = true, Hub = hub });
        foreach (var (name, value) in same.state_dict()) Assert.True(value.allclose(state[name], 0, 0), name);

        using var gray = ModelRegistry.Create("test_nfnet", new ModelOptions { Pretrained = true, Hub = hub, InChannels = 1, NumClasses = 7 });
        var rgb = state["stem.conv1.weight"];
        Assert.True(gray.state_dict()["stem.conv1.weight"].allclose(rgb.sum(1, keepdim: true), 0, 0));
        Assert.True(gray.state_dict()["stages.2.0.conv2.weight"].allclose(state["stages.2.0.conv2.weight"], 0, 0));
        Assert.Equal(new long[] { 7, gray.NumFeatures }, gray.state_dict()["head.fc.weight"].shape);

        using var five = ModelRegistry.Create("test_nfnet", new ModelOptions { Pretrained = true, Hub = hub, InChannels = 5 });
        var adapted = five.state_dict()["stem.conv1.weight"];
        Assert.Equal(new long[] { 16, 5, 3, 3 }, adapted.shape);
        foreach (var (channel, source) in new[] { (0, 0), (1, 1), (2, 2), (3, 0), (4, 1) })   // R, G, B, R, G
        {
            using var expected = rgb.select(1, source).Times(3.0 / 5);
            Assert.True(adapted.select(1, channel).allclose(expected, 1e-6, 1e-7), $"channel {channel}");
        }
    }

    [Fact]
    public void AdaptationByHandOnOneKernel()
    {
        using var w = tensor(new float[] { 1, 2, 3, -4, 5, 6 }).reshape(2, 3, 1, 1);
        using var one = InputConvAdaptation.Adapt(w, 1);
        Assert.Equal(new float[] { 6, 7 }, one.data<float>().ToArray());
        using var four = InputConvAdaptation.Adapt(w, 4);
        Assert.Equal(new float[] { 0.75f, 1.5f, 2.25f, 0.75f, -3f, 3.75f, 4.5f, -3f }, four.data<float>().ToArray());
        Assert.Throws<ArgumentException>(() => InputConvAdaptation.Adapt(four, 1));
    }
}
