using NfNet.Models;
using NfNet.Models.Baselines;
using NfNet.Training;

namespace NfNet.Studies;

/// <summary>The Fashion-MNIST-sized models the studies compare (1 input channel, 10 classes, 32×32 images).</summary>
public static class StudyModels
{
    /// <summary>A BN-ResNet (v1.5 bottlenecks, one per stage, widths 16–128, no stem pool).</summary>
    public static ResNetConfig BatchNormResNet => new()
    {
        Name = "bn-resnet-fashion",
        Depths = new[] { 1, 1, 1, 1 },
        Widths = new[] { 16, 32, 64, 128 },
        StemWidth = 32,
        StemPool = false,
        InChannels = 1,
        NumClasses = 10,
    };

    /// <summary>The same layout without batch norm: an NF-ResNet.</summary>
    public static NFResNetConfig NormalizerFreeResNet => new()
    {
        Name = "nf-resnet-fashion",
        Depths = new[] { 1, 1, 1, 1 },
        Widths = new[] { 16, 32, 64, 128 },
        StemWidth = 32,
        StemPool = false,
        InChannels = 1,
        NumClasses = 10,
    };

    /// <summary>The demo's NFNet (324,650 parameters).</summary>
    public static NFNetConfig NFNet => FashionMnistRecipe.Model(32);

    /// <summary>A small EfficientNetV2 (stem stride 1 for 32×32 images; Fused-MBConv then MBConv stages).</summary>
    public static EfficientNetV2Config EfficientNetV2 => new()
    {
        Name = "efficientnetv2-fashion",
        StemWidth = 24,
        StemStride = 1,
        HeadWidth = 512,
        InChannels = 1,
        NumClasses = 10,
        DropRate = 0.2,
        StochasticDepthRate = 0.1,
        Stages = new EfficientNetV2Stage[]
        {
            new(EfficientNetBlockKind.FusedMBConv, 1, 3, 1, 0, 24, 1),
            new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 32, 2),
            new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 48, 2),
            new(EfficientNetBlockKind.MBConv, 4, 3, 2, 0.25, 96, 2),
            new(EfficientNetBlockKind.MBConv, 6, 3, 1, 0.25, 128, 2),
        },
    };

    /// <summary>Parameter count of a module.</summary>
    public static long Parameters(TorchSharp.torch.nn.Module m) => m.parameters().Sum(p => p.numel());
}
