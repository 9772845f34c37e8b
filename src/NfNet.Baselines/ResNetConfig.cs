using TorchSharp;
using static TorchSharp.torch;
using BatchNorm2d = NfNet.Layers.BatchNorm2d;

namespace NfNet.Models.Baselines;

/// <summary>Which batch-normalized ResNet form.</summary>
public enum ResNetForm
{
    /// <summary>Post-activation "v1.5" (torchvision/timm): conv→BN→ReLU, stride on the 3×3, projection conv+BN, ReLU after the add.</summary>
    PostActivationV15,
    /// <summary>Pre-activation "v2" (the NFNets repository's BN baseline): BN→ReLU first, projection from the
    /// pre-activated input, no ReLU after the add, a final BN→ReLU, zero-initialised classifier.</summary>
    PreActivation,
}

/// <summary>A bottleneck ResNet with batch norm, as data (ResNet-50 by default).</summary>
public sealed record ResNetConfig
{
    /// <summary>Name.</summary>
    public string Name { get; init; } = "resnet50";
    /// <summary>Blocks per stage.</summary>
    public IReadOnlyList<int> Depths { get; init; } = new[] { 3, 4, 6, 3 };
    /// <summary>Bottleneck widths per stage (the block output is 4× this).</summary>
    public IReadOnlyList<int> Widths { get; init; } = new[] { 64, 128, 256, 512 };
    /// <summary>Stem width (7×7/2 conv, then 3×3/2 max-pool).</summary>
    public int StemWidth { get; init; } = 64;
    /// <summary>Block expansion.</summary>
    public int Expansion { get; init; } = 4;
    /// <summary>Form.</summary>
    public ResNetForm Form { get; init; } = ResNetForm.PostActivationV15;
    /// <summary>Classes.</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>Input channels.</summary>
    public int InChannels { get; init; } = 3;
    /// <summary>BN momentum in PyTorch's convention (0.1 = Haiku decay 0.9).</summary>
    public double BatchNormMomentum { get; init; } = 0.1;
    /// <summary>BN epsilon.</summary>
    public double BatchNormEps { get; init; } = 1e-5;
    /// <summary>Zero-initialise the last BN γ of each block (timm's default for v1.5).</summary>
    public bool ZeroInitLastGamma { get; init; } = true;
    /// <summary>Use the 3×3/2 max-pool after the stem (false for small images such as 28×28).</summary>
    public bool StemPool { get; init; } = true;

    /// <summary>Batch norm layers (true), or identities in their place (false). Without batch norm this layout does not
    /// train; the switch exists to measure batch norm's share of a training step (studies/step-time).</summary>
    public bool UseBatchNorm { get; init; } = true;

    /// <summary>A batch norm over <paramref name="channels"/> with this configuration's eps and momentum, or the identity
    /// when <see cref="UseBatchNorm"/> is false.</summary>
    public nn.Module<Tensor, Tensor> Norm(long channels, Device? device = null) =>
        UseBatchNorm ? new BatchNorm2d(channels, BatchNormEps, BatchNormMomentum, device: device) : nn.Identity();

    /// <summary>Checks the configuration.</summary>
    /// <exception cref="InvalidBaselineConfigException">Lengths differ or a size is not positive.</exception>
    public void Validate()
    {
        if (ModelLimits.Exceeded(Widths.Append(StemWidth), Depths, InChannels, NumClasses) is { } exceeded)
            throw new InvalidBaselineConfigException($"ResNetConfig '{Name}': {exceeded}");
        if (Depths.Count == 0 || Depths.Count != Widths.Count)
            throw new InvalidBaselineConfigException($"ResNetConfig '{Name}': {Depths.Count} depths but {Widths.Count} widths");
        if (Depths.Any(d => d <= 0) || Widths.Any(w => w <= 0) || StemWidth <= 0 || Expansion <= 0 || NumClasses < 0 || InChannels <= 0)
            throw new InvalidBaselineConfigException($"ResNetConfig '{Name}': sizes must be positive");
    }
}
