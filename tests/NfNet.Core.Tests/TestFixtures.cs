using NfNet.Layers;
using NfNet.Models;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>Paths and builders for the committed fixtures.</summary>
internal static class TestFixtures
{
    public static string Dir(params string[] parts) => Path.Combine(new[] { AppContext.BaseDirectory, "Fixtures" }.Concat(parts).ToArray());

    public static string TinyWeights => Dir("tiny-nfnet", "weights.safetensors");
    public static string TinyInputs => Dir("tiny-nfnet", "input.safetensors");
    public static string TinyExpected => Dir("tiny-nfnet", "expected.safetensors");
    public static string TimmF0Keys => Dir("timm", "timm-dm_nfnet_f0-keys.txt");

    /// <summary>The fixture's timm NfCfg (README "Config") as our config.</summary>
    public static NFNetConfig TinyConfig { get; } = new NFNetConfig
    {
        Name = "tiny-nfnet",
        Widths = new[] { 32, 64, 96, 128 },
        Depths = new[] { 1, 2, 3, 2 },
        StemWidth = 16,
        GroupWidth = 16,
        NumClasses = 10,
        DropRate = 0.0,
        StochasticDepthRate = 0.0,
        Activation = ActivationKind.Gelu,
    };

    /// <summary>The tiny model with the fixture's timm weights, in eval mode.</summary>
    public static NFNet LoadTiny(ScalarType dtype = ScalarType.Float32)
    {
        var model = new NFNet(TinyConfig);
        model.LoadSafetensors(TinyWeights);
        if (dtype != ScalarType.Float32) model.to(dtype);
        model.eval();
        return model;
    }
}
