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

    /// <summary>Creates <paramref name="name"/> (1000 classes, 3 channels, float32) for <paramref name="resolution"/>-px
    /// images; returns it with its forward MACs per image and whether its recipe clips with AGC.</summary>
    public static (nn.Module<Tensor, Tensor> Model, long MacsPerImage, bool NormalizerFree) Create(string name, int resolution) => name switch
    {
        "NFNet-F0" => With(NFNet.Create("F0"), m => m.CountMacs(resolution, resolution), true),
        "NF-ResNet-50" => With(NFResNet.NFResNet50(), m => m.CountMacs(resolution, resolution), true),
        "BN-ResNet-50" => With(BatchNormResNet.ResNet50(), m => m.CountMacs(resolution, resolution), false),
        "BN-ResNet-50, BN→identity" => With(new BatchNormResNet(new ResNetConfig { UseBatchNorm = false }), m => m.CountMacs(resolution, resolution), false),
        "EfficientNetV2-S" => With(EfficientNetV2.S(), m => m.CountMacs(resolution, resolution), false),
        "EfficientNetV2-B0" => With(EfficientNetV2.B0(), m => m.CountMacs(resolution, resolution), false),
        "CoAtNet-0" => With(CoAtNet.CoAtNet0(imageSize: resolution), m => m.CountMacs(resolution, resolution), false),
        _ => throw new ArgumentException($"unknown comparison model '{name}'; known: {string.Join(", ", Names)}", nameof(name)),
    };

    private static (nn.Module<Tensor, Tensor>, long, bool) With<T>(T model, Func<T, long> macs, bool nf) where T : nn.Module<Tensor, Tensor> =>
        (model, macs(model), nf);
}
