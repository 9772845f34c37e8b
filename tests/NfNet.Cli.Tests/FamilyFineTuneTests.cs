using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using NfNet.Models;
using NfNet.Tests.Hub;
using NfNet.Weights;
using Xunit;

namespace NfNet.Cli.Tests;

/// <summary>
/// A member of the family beyond DeepMind's F-models, end to end from the tool as a timm user runs it:
/// <c>eca_nfnet_l0</c> fine-tuned from its published tag (<c>eca_nfnet_l0.ra2_in1k</c>, from a Hugging Face cache laid
/// out by hand, offline) on the committed image folder, exported to ONNX (checked in ONNX Runtime by the command), and
/// validated.
/// </summary>
public sealed class FamilyFineTuneTests : IDisposable
{
    private const string Commit = "fedcba9876543210fedcba9876543210fedcba98";
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-cli-family-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EcaNfnetL0FineTunesFromItsPublishedTagThenExportsAndValidates()
    {
        var cache = Path.Combine(_dir, "hf");
        var published = Path.Combine(_dir, "published.safetensors");
        TorchSharp.torch.manual_seed(7);
        using (var model = ModelRegistry.Create("eca_nfnet_l0")) model.SaveSafetensors(published);
        HandLaidCache.LayOut(cache, "timm/eca_nfnet_l0.ra2_in1k", Commit, File.ReadAllBytes(published));
        var offline = new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_CACHE"] = cache };

        var run = Path.Combine(_dir, "run");
        var train = Tool.Run(null, offline, "train", "--images", Tool.Images, "--model", "eca_nfnet_l0", "--pretrained", "eca_nfnet_l0.ra2_in1k",
            "--epochs", "1", "--batch", "8", "--resolution", "64", "--precision", "fp32", "--out", run, "--seed", "3",
            "--layer-decay", "0.75", "--grad-checkpointing", "--drop", "0.1", "--drop-path", "0.05");
        Assert.True(train.Code == 0, train.All);
        // Every tensor but the 1000-class classifier's two comes from the published weights.
        Assert.Contains("loaded 183 tensors", train.Output);
        Assert.Contains("classifier reset for 3 classes", train.Output);
        Assert.Contains("(layer decay 0.75); gradient checkpointing", train.Output);
        var checkpoint = Path.Combine(run, "checkpoint.nfckpt");

        var onnx = Path.Combine(_dir, "eca.onnx");
        var export = Tool.Run("export", "--checkpoint", checkpoint, "--onnx", onnx, "--resolution", "64");
        Assert.True(export.Code == 0, export.All);
        var difference = double.Parse(Regex.Match(export.Output, @"TorchSharp\| = ([0-9.E+-]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(difference < 1e-3, export.Output);

        var results = Path.Combine(_dir, "validate.json");
        var validate = Tool.Run("validate", "--checkpoint", checkpoint, "--images", Path.Combine(Tool.Images, "val"), "--fp32", "--results-file", results);
        Assert.True(validate.Code == 0, validate.All);
        using var json = JsonDocument.Parse(File.ReadAllText(results));
        Assert.Equal("eca_nfnet_l0", json.RootElement[0].GetProperty("model").GetString());
        Assert.Equal(12, json.RootElement[0].GetProperty("count").GetInt64());
    }

    [Fact]
    public void ARegistryModelTrainsAtItsOwnTrainingSizeUnlessTold()
    {
        // timm's test_nfnet.r160_in1k: input_size 160, mean and std 0.5.
        var run = Path.Combine(_dir, "sized");
        var train = Tool.Run("train", "--images", Tool.Images, "--model", "test_nfnet", "--epochs", "1", "--batch", "8",
            "--precision", "fp32", "--out", run, "--seed", "3");
        Assert.True(train.Code == 0, train.All);
        Assert.Contains("; 160 px, 3 channel(s)", train.Output);
    }
}
