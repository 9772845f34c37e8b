using System.Runtime.CompilerServices;

namespace NfNet.Models.Baselines;

/// <summary>
/// Registers the comparison models in <see cref="ModelRegistry"/> under timm's names when this assembly loads:
/// <c>nf_resnet50</c>, <c>resnet50</c> (v1.5), <c>resnetv2_50</c> (pre-activation), <c>efficientnetv2_s</c>,
/// <c>efficientnetv2_b0</c> and <c>coatnet_0</c>.
/// </summary>
public static class BaselineModels
{
    /// <summary>The names this package registers.</summary>
    public static IReadOnlyList<string> Names { get; } =
        new[] { "nf_resnet50", "resnet50", "resnetv2_50", "efficientnetv2_s", "efficientnetv2_b0", "coatnet_0" };

    /// <summary>Registers the models (idempotent; runs by itself when the assembly loads).</summary>
    // A library module initializer is what lets ModelRegistry.Create("resnet50") work from NfNet.Core alone: the
    // registry loads this assembly by name and runs its module constructor (CA2255 warns for libraries in general).
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    public static void Register()
    {
        ModelRegistry.Register("nf_resnet50", (k, c, d) => NFResNet.NFResNet50(k ?? 1000, c ?? 3, d));
        ModelRegistry.Register("resnet50", (k, c, d) => BatchNormResNet.ResNet50(ResNetForm.PostActivationV15, k ?? 1000, c ?? 3, d));
        ModelRegistry.Register("resnetv2_50", (k, c, d) => BatchNormResNet.ResNet50(ResNetForm.PreActivation, k ?? 1000, c ?? 3, d));
        ModelRegistry.Register("efficientnetv2_s", (k, c, d) => EfficientNetV2.S(k ?? 1000, c ?? 3, d));
        ModelRegistry.Register("efficientnetv2_b0", (k, c, d) => EfficientNetV2.B0(k ?? 1000, c ?? 3, d));
        ModelRegistry.Register("coatnet_0", (k, c, d) => CoAtNet.CoAtNet0(k ?? 1000, c ?? 3, device: d));
    }
}
