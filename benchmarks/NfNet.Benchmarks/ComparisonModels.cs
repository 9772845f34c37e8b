using NfNet.Models;
using NfNet.Models.Baselines;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>The full-size systems compared by step time (study 5 and <see cref="ComparisonStepBenchmark"/>).</summary>
public static class ComparisonModels
{
    /// <summary>Model names, in table order.</summary>
    public static readonly IReadOnlyList<string> Names = new[]
    {
        "NFNet-F0", "NF-ResNet-50", "BN-ResNet-50", "BN-ResNet-50, BN→identity", "EfficientNetV2-S", "EfficientNetV2-B0", "CoAtNet-0",
    };

    /// <summary>ImageNet top-1 (%) as the papers and released configs give it (null where not checked here): F0 83.6
    /// (NFNet paper), V2-S 83.9 (EfficientNetV2 paper), V2-B0 78.7 (automl config), CoAtNet-0 81.6 (CoAtNet paper).</summary>
    public static double? ImageNetTop1(string name) => name switch
    {
        "NFNet-F0" => 83.6,
        "EfficientNetV2-S" => 83.9,
        "EfficientNetV2-B0" => 78.7,
        "CoAtNet-0" => 81.6,
        _ => null,
    };

    // Display name → how to build it at a resolution, and whether its recipe is normalizer-free (AGC). Registry names
    // where the registry has the model; the BN→identity timing variant and CoAtNet's resolution-sized tables are built
    // from their configs.
    private static readonly Dictionary<string, (Func<int, ImageClassifier> Build, bool NormalizerFree)> Table = new()
    {
        ["NFNet-F0"] = (_ => ModelRegistry.Create("dm_nfnet_f0"), true),
        ["NF-ResNet-50"] = (_ => ModelRegistry.Create("nf_resnet50"), true),
        ["BN-ResNet-50"] = (_ => ModelRegistry.Create("resnet50"), false),
        ["BN-ResNet-50, BN→identity"] = (_ => new BatchNormResNet(new ResNetConfig { UseBatchNorm = false }), false),
        ["EfficientNetV2-S"] = (_ => ModelRegistry.Create("efficientnetv2_s"), false),
        ["EfficientNetV2-B0"] = (_ => ModelRegistry.Create("efficientnetv2_b0"), false),
        ["CoAtNet-0"] = (resolution => CoAtNet.CoAtNet0(imageSize: resolution), false),
    };

    /// <summary>Creates <paramref name="name"/> (1000 classes, 3 channels, float32) for <paramref name="resolution"/>-px
    /// images; returns it with its forward MACs per image (from the model contract) and whether its recipe clips with AGC.</summary>
    public static (ImageClassifier Model, long MacsPerImage, bool NormalizerFree) Create(string name, int resolution)
    {
        if (!Table.TryGetValue(name, out var entry))
            throw new ArgumentException($"unknown comparison model '{name}'; known: {string.Join(", ", Names)}", nameof(name));
        var model = entry.Build(resolution);
        return (model, model.CountMacs(resolution, resolution), entry.NormalizerFree);
    }
}
