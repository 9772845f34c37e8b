namespace NfNet.Models.Baselines;

/// <summary>The two EfficientNetV2 block types.</summary>
public enum EfficientNetBlockKind
{
    /// <summary>Fused-MBConv: a regular k×k conv (expanding, strided) then a 1×1 projection; with expansion 1 a single k×k conv + BN + SiLU.</summary>
    FusedMBConv,
    /// <summary>MBConv: 1×1 expansion, k×k depthwise (strided), Squeeze-Excite, 1×1 projection.</summary>
    MBConv,
}

/// <summary>One stage of an EfficientNetV2 (a row of the paper's architecture table).</summary>
/// <param name="Kind">Block type.</param>
/// <param name="Expansion">Expansion ratio of the hidden width (1, 4 or 6).</param>
/// <param name="KernelSize">Kernel of the spatial conv.</param>
/// <param name="Stride">Stride of the stage's first block.</param>
/// <param name="SeRatio">Squeeze-Excite ratio of the block <i>input</i> channels (0 = no SE).</param>
/// <param name="OutChannels">Output channels.</param>
/// <param name="Layers">Blocks in the stage.</param>
public sealed record EfficientNetV2Stage(EfficientNetBlockKind Kind, int Expansion, int KernelSize, int Stride, double SeRatio, int OutChannels, int Layers);

/// <summary>
/// An EfficientNetV2 (Tan &amp; Le 2021) as data: stem conv, stages of Fused-MBConv/MBConv blocks, 1×1 head conv, pooling,
/// dropout and a linear classifier. <see cref="S"/> and <see cref="B0"/> are the published tables (21,458,488 and
/// 7,139,704 parameters at 1000 classes).
/// </summary>
public sealed record EfficientNetV2Config
{
    /// <summary>Name.</summary>
    public string Name { get; init; } = "efficientnetv2";
    /// <summary>Stem width (3×3/2 conv + BN + SiLU).</summary>
    public int StemWidth { get; init; } = 24;
    /// <summary>Stride of the stem conv (2; 1 for tiny images).</summary>
    public int StemStride { get; init; } = 2;
    /// <summary>The stages in order.</summary>
    public IReadOnlyList<EfficientNetV2Stage> Stages { get; init; } = Array.Empty<EfficientNetV2Stage>();
    /// <summary>Width of the 1×1 head conv.</summary>
    public int HeadWidth { get; init; } = 1280;
    /// <summary>Classes (0 for a feature extractor).</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>Input channels.</summary>
    public int InChannels { get; init; } = 3;
    /// <summary>Dropout before the classifier (S 0.2; progressive learning may change it per stage).</summary>
    public double DropRate { get; init; } = 0.2;
    /// <summary>Stochastic depth: block i of N drops its branch with probability rate · i / N (kept samples scaled by 1/keep).</summary>
    public double StochasticDepthRate { get; init; } = 0.2;
    /// <summary>BN momentum in PyTorch's convention (0.01 = TF's 0.99).</summary>
    public double BatchNormMomentum { get; init; } = 0.01;
    /// <summary>BN epsilon (1e-3 as TF).</summary>
    public double BatchNormEps { get; init; } = 1e-3;

    /// <summary>EfficientNetV2-S (automl <c>v2_s_block</c>; 40 blocks, 21,458,488 parameters).</summary>
    public static EfficientNetV2Config S(int numClasses = 1000, int inChannels = 3) => new()
    {
        Name = "efficientnetv2_s",
        StemWidth = 24,
        NumClasses = numClasses,
        InChannels = inChannels,
        Stages = new EfficientNetV2Stage[]
        {
            new(EfficientNetBlockKind.FusedMBConv, 1, 3, 1, 0, 24, 2),
            new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 48, 4),
            new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 64, 4),
            new(EfficientNetBlockKind.MBConv, 4, 3, 2, 0.25, 128, 6),
            new(EfficientNetBlockKind.MBConv, 6, 3, 1, 0.25, 160, 9),
            new(EfficientNetBlockKind.MBConv, 6, 3, 2, 0.25, 256, 15),
        },
    };

    /// <summary>EfficientNetV2-B0, the base net (21 blocks, 7,139,704 parameters).</summary>
    public static EfficientNetV2Config B0(int numClasses = 1000, int inChannels = 3) => new()
    {
        Name = "efficientnetv2_b0",
        StemWidth = 32,
        NumClasses = numClasses,
        InChannels = inChannels,
        Stages = new EfficientNetV2Stage[]
        {
            new(EfficientNetBlockKind.FusedMBConv, 1, 3, 1, 0, 16, 1),
            new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 32, 2),
            new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 48, 2),
            new(EfficientNetBlockKind.MBConv, 4, 3, 2, 0.25, 96, 3),
            new(EfficientNetBlockKind.MBConv, 6, 3, 1, 0.25, 112, 5),
            new(EfficientNetBlockKind.MBConv, 6, 3, 2, 0.25, 192, 8),
        },
    };

    /// <summary>Checks the configuration.</summary>
    /// <exception cref="InvalidBaselineConfigException">No stages, or a size, ratio or rate out of range.</exception>
    public void Validate()
    {
        if (ModelLimits.Exceeded(Stages.Select(s => s.OutChannels).Append(StemWidth).Append(HeadWidth), Stages.Select(s => s.Layers), InChannels, NumClasses) is { } exceeded)
            throw new InvalidBaselineConfigException($"EfficientNetV2Config '{Name}': {exceeded}");
        if (Stages.Count == 0) throw new InvalidBaselineConfigException($"EfficientNetV2Config '{Name}': no stages");
        if (StemWidth <= 0 || StemStride <= 0 || HeadWidth <= 0 || NumClasses < 0 || InChannels <= 0)
            throw new InvalidBaselineConfigException($"EfficientNetV2Config '{Name}': sizes must be positive");
        foreach (var s in Stages)
            if (s.Expansion <= 0 || s.KernelSize <= 0 || s.KernelSize % 2 == 0 || s.Stride <= 0 || s.OutChannels <= 0 || s.Layers <= 0 || !(s.SeRatio >= 0 && s.SeRatio < 1))
                throw new InvalidBaselineConfigException($"EfficientNetV2Config '{Name}': invalid stage {s}");
        if (!(DropRate >= 0 && DropRate < 1) || !(StochasticDepthRate >= 0 && StochasticDepthRate < 1))
            throw new InvalidBaselineConfigException($"EfficientNetV2Config '{Name}': drop rates must be in [0, 1)");
    }
}
