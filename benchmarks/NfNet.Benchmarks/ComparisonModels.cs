using NfNet.Models;
using NfNet.Models.Baselines;

namespace NfNet.Benchmarks;

/// <summary>The full-size systems compared by step time (study 5 and <see cref="ComparisonStepBenchmark"/>).</summary>
public static class ComparisonModels
{
    /// <summary>Model names, in table order.</summary>
    public static readonly IReadOnlyList<string> Names = new[]
    {
        "NFNet-F0", "NF-ResNet-50", "BN-ResNet-50", "BN-ResNet-50, BN→identity", "EfficientNetV2-S", "EfficientNetV2-B0", "CoAtNet-0",
    };

    // Display name → registry name, registry options at a resolution, whether the recipe is normalizer-free (AGC), and
    // ImageNet top-1 (%) as the papers and released configs give it (null where not checked here): F0 83.6 (NFNet paper),
    // V2-S 83.9 (EfficientNetV2 paper), V2-B0 78.7 (automl config), CoAtNet-0 81.6 (CoAtNet paper). CoAtNet's
    // relative-position tables are sized for the resolution; BN→identity is the BN-ResNet's configuration with the norms
    // swapped out, built through the same registered builder.
    private static readonly Dictionary<string, (string Registry, Func<int, ModelOptions> Options, bool NormalizerFree, double? Top1, Func<object, object>? Edit)> Table = new()
    {
        ["NFNet-F0"] = ("dm_nfnet_f0", _ => new(), true, 83.6, null),
        ["NF-ResNet-50"] = ("dm_nf_resnet50", _ => new(), true, null, null),
        ["BN-ResNet-50"] = ("resnet50", _ => new(), false, null, null),
        ["BN-ResNet-50, BN→identity"] = ("resnet50", _ => new(), false, null, c => ((ResNetConfig)c) with { UseBatchNorm = false }),
        ["EfficientNetV2-S"] = ("efficientnetv2_s", _ => new(), false, 83.9, null),
        ["EfficientNetV2-B0"] = ("efficientnetv2_b0", _ => new(), false, 78.7, null),
        ["CoAtNet-0"] = ("coatnet_0", resolution => new() { ImageSize = resolution }, false, 81.6, null),
    };

    /// <summary>ImageNet top-1 (%) of <paramref name="name"/> as its paper reports it, or null.</summary>
    public static double? ImageNetTop1(string name) => Table.TryGetValue(name, out var entry) ? entry.Top1 : null;

    /// <summary>Creates <paramref name="name"/> (1000 classes, 3 channels, float32) for <paramref name="resolution"/>-px
    /// images; returns it with its forward MACs per image (from the model contract) and whether its recipe clips with AGC.</summary>
    public static (ImageClassifier Model, long MacsPerImage, bool NormalizerFree) Create(string name, int resolution)
    {
        if (!Table.TryGetValue(name, out var entry))
            throw new ArgumentException($"unknown comparison model '{name}'; known: {string.Join(", ", Names)}", nameof(name));
        // A variant of a registered model is its edited configuration, built by the registered builder.
        var model = entry.Edit is { } edit
            ? ModelRegistry.CreateFromConfiguration(edit(ModelRegistry.Configure(entry.Registry, entry.Options(resolution))))
            : ModelRegistry.Create(entry.Registry, entry.Options(resolution));
        return (model, model.CountMacs(resolution, resolution), entry.NormalizerFree);
    }
}
