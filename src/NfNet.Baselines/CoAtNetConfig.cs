namespace NfNet.Models.Baselines;

/// <summary>
/// A CoAtNet (Dai et al. 2021; seed-systems spec (c)) as data: a two-conv stem, then MBConv stages and Transformer
/// stages with relative attention (C-C-T-T by default). Every stage's first block halves the resolution. The defaults are
/// CoAtNet-0 at 224 px with a plain (LayerNorm → linear) head.
/// </summary>
public sealed record CoAtNetConfig
{
    /// <summary>Name.</summary>
    public string Name { get; init; } = "coatnet_0";
    /// <summary>Stem width (3×3/2 conv → BN → GELU → 3×3 conv).</summary>
    public int StemWidth { get; init; } = 64;
    /// <summary>Stride of the stem's first conv (2; 1 for tiny images).</summary>
    public int StemStride { get; init; } = 2;
    /// <summary>Widths of the stages.</summary>
    public IReadOnlyList<int> Widths { get; init; } = new[] { 96, 192, 384, 768 };
    /// <summary>Blocks per stage.</summary>
    public IReadOnlyList<int> Depths { get; init; } = new[] { 2, 3, 5, 2 };
    /// <summary>How many leading stages are MBConv (the rest are Transformer stages).</summary>
    public int ConvStages { get; init; } = 2;
    /// <summary>MBConv expansion ratio (mid = ratio · out).</summary>
    public int MBConvExpansion { get; init; } = 4;
    /// <summary>MBConv Squeeze-Excite width as a fraction of the block output channels.</summary>
    public double SeRatio { get; init; } = 0.25;
    /// <summary>Attention head width (heads = channels / this).</summary>
    public int HeadDim { get; init; } = 32;
    /// <summary>Transformer MLP expansion ratio.</summary>
    public int MlpRatio { get; init; } = 4;
    /// <summary>The image size the relative-position tables are sized for (another size resizes them bilinearly).</summary>
    public int ImageSize { get; init; } = 224;
    /// <summary>Stochastic depth: block i of N drops with rate · i / N.</summary>
    public double StochasticDepthRate { get; init; }
    /// <summary>Classes (0 for a feature extractor).</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>Input channels.</summary>
    public int InChannels { get; init; } = 3;
    /// <summary>BN momentum (PyTorch convention).</summary>
    public double BatchNormMomentum { get; init; } = 0.1;
    /// <summary>BN epsilon.</summary>
    public double BatchNormEps { get; init; } = 1e-5;
    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; init; } = 1e-5;

    /// <summary>CoAtNet-0 (C-C-T-T, 64/96/192/384/768, 2-2-3-5-2 blocks).</summary>
    public static CoAtNetConfig CoAtNet0(int numClasses = 1000, int inChannels = 3, int imageSize = 224) =>
        new() { NumClasses = numClasses, InChannels = inChannels, ImageSize = imageSize };

    /// <summary>The total stride before stage <paramref name="stage"/>'s output (stem stride × 2^(stage + 1)).</summary>
    public int StrideAfterStage(int stage) => StemStride * (1 << (stage + 1));

    /// <summary>Checks the configuration.</summary>
    /// <exception cref="InvalidBaselineConfigException">Lengths differ, a width is not a multiple of the head width, or a size is out of range.</exception>
    public void Validate()
    {
        if (ModelLimits.Exceeded(Widths.Append(StemWidth), Depths, InChannels, NumClasses) is { } exceeded)
            throw new InvalidBaselineConfigException($"CoAtNetConfig '{Name}': {exceeded}");
        if (Widths.Count == 0 || Widths.Count != Depths.Count)
            throw new InvalidBaselineConfigException($"CoAtNetConfig '{Name}': {Depths.Count} depths but {Widths.Count} widths");
        if (ConvStages < 0 || ConvStages > Widths.Count)
            throw new InvalidBaselineConfigException($"CoAtNetConfig '{Name}': ConvStages {ConvStages} is outside [0, {Widths.Count}]");
        if (Widths.Any(w => w <= 0) || Depths.Any(d => d <= 0) || StemWidth <= 0 || StemStride <= 0 || MBConvExpansion <= 0 || HeadDim <= 0 ||
            MlpRatio <= 0 || ImageSize <= 0 || NumClasses < 0 || InChannels <= 0 || !(SeRatio > 0 && SeRatio < 1))
            throw new InvalidBaselineConfigException($"CoAtNetConfig '{Name}': sizes must be positive");
        for (var s = ConvStages; s < Widths.Count; s++)
            if (Widths[s] % HeadDim != 0)
                throw new InvalidBaselineConfigException($"CoAtNetConfig '{Name}': stage {s} width {Widths[s]} is not a multiple of the head width {HeadDim}");
        if (!(StochasticDepthRate >= 0 && StochasticDepthRate < 1))
            throw new InvalidBaselineConfigException($"CoAtNetConfig '{Name}': the stochastic depth rate must be in [0, 1)");
    }
}
