using NfNet.Layers;

namespace NfNet.Models;

/// <summary>
/// Everything that defines an NFNet: the architecture, the regularisation and the resolutions of its recipe.
/// The F0–F7 family are instances of it (<see cref="NFNetVariants"/>); a custom network is a <c>with</c>
/// expression away: <c>NFNetVariants.F0 with { NumClasses = 10, InChannels = 1 }</c>.
/// </summary>
/// <remarks>Defaults are F0's (DeepMind's <c>nfnet_params['F0']</c>, timm's <c>dm_nfnet_f0</c>).</remarks>
public sealed record NFNetConfig
{
    /// <summary>A display name ("F0", or anything for a custom configuration).</summary>
    public string Name { get; init; } = "custom";

    /// <summary>Output width of each stage. F: 256, 512, 1536, 1536.</summary>
    public IReadOnlyList<int> Widths { get; init; } = new[] { 256, 512, 1536, 1536 };

    /// <summary>Blocks per stage. F-N: N × (1, 2, 6, 3).</summary>
    public IReadOnlyList<int> Depths { get; init; } = new[] { 1, 2, 6, 3 };

    /// <summary>Width of the deep-quad stem's last conv; its convs are width/8, /4, /2, width (strides 2, 1, 1, 2). F: 128.</summary>
    public int StemWidth { get; init; } = 128;

    /// <summary>Channels per group in the 3×3 convs. F: 128.</summary>
    public int GroupWidth { get; init; } = 128;

    /// <summary>Bottleneck width as a fraction of the block's output width. F: 0.5.</summary>
    public double BottleneckRatio { get; init; } = 0.5;

    /// <summary>Squeeze-Excite bottleneck as a fraction of the block's output width. F: 0.5.</summary>
    public double SeRatio { get; init; } = 0.5;

    /// <summary>Multiplier of the SE gate. F: 2.</summary>
    public double SeGain { get; init; } = 2.0;

    /// <summary>The residual branch scale alpha. F: 0.2.</summary>
    public double Alpha { get; init; } = 0.2;

    /// <summary>Width of <c>final_conv</c> as a multiple of the last stage's width. F: 2 (3072).</summary>
    public double FinalWidthMultiplier { get; init; } = 2.0;

    /// <summary>The trunk's nonlinearity (gamma-scaled). F: exact GELU, as timm (DeepMind runs the tanh form).</summary>
    public ActivationKind Activation { get; init; } = ActivationKind.Gelu;

    /// <summary>Classifier outputs; 0 builds no classifier (<c>forward</c> returns pooled features).</summary>
    public int NumClasses { get; init; } = 1000;

    /// <summary>Input image channels.</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Dropout before the classifier, training only (inverted scaling). F0: 0.2 … F4–F7: 0.5.</summary>
    public double DropRate { get; init; } = 0.2;

    /// <summary>Network-wide stochastic depth rate; 0.25 in DeepMind's training config for every variant.</summary>
    public double StochasticDepthRate { get; init; } = 0.25;

    /// <summary>Stochastic depth schedule and scaling (DeepMind's by default).</summary>
    public StochasticDepthMode StochasticDepthMode { get; init; } = StochasticDepthMode.DeepMind;

    /// <summary>Training resolution of the recipe. F0: 192.</summary>
    public int TrainResolution { get; init; } = 192;

    /// <summary>Evaluation resolution of the recipe. F0: 256.</summary>
    public int EvalResolution { get; init; } = 256;

    /// <summary>RandAugment setting of the recipe. F0: 4 ops at magnitude 5.</summary>
    public RandAugmentSetting RandAugment { get; init; } = new(4, 5);

    /// <summary>Weight standardization formula (timm's, so timm weights load exactly).</summary>
    public WeightStandardization Standardization { get; init; } = WeightStandardization.Timm;

    /// <summary>Weight standardization epsilon; null takes the formula's default (1e-5 timm, 1e-4 DeepMind).</summary>
    public double? StandardizationEps { get; init; }

    /// <summary>Conv padding: TF "SAME", as DeepMind's and timm's dm_ weights expect.</summary>
    public ConvPadding Padding { get; init; } = ConvPadding.Same;

    /// <summary>Whether blocks have the second grouped 3×3 conv (<c>conv2b</c>) of NFNet-F. F: true.</summary>
    public bool ExtraConv { get; init; } = true;

    /// <summary>Channel rounding divisor (timm's <c>ch_div</c>): stage, stem, feature and bottleneck widths are rounded
    /// to multiples of it, as timm builds them. F: 8.</summary>
    public int ChannelDivisor { get; init; } = 8;

    /// <summary>Width multiplier applied to the stage, stem and feature widths before rounding (timm's
    /// <c>width_factor</c>). F: 1.</summary>
    public double WidthFactor { get; init; } = 1.0;

    /// <summary>Channels of <c>final_conv</c>, i.e. of the pooled features: timm's
    /// <c>make_divisible(width_factor · int(widths[-1] · final multiplier), ch_div)</c>.</summary>
    public int NumFeatures => Channels.MakeDivisible(WidthFactor * (int)(Widths[^1] * FinalWidthMultiplier), ChannelDivisor);

    /// <summary>Total number of blocks.</summary>
    public int BlockCount => Depths.Sum();

    /// <summary>Output width of stage <paramref name="stage"/> as built: <c>make_divisible(widths[s] · width_factor, ch_div)</c>
    /// (timm <c>NormFreeNet</c>).</summary>
    public int StageWidth(int stage) => Channels.MakeDivisible(Widths[stage] * WidthFactor, ChannelDivisor);

    /// <summary>Width of the stem's last conv as built: <c>make_divisible(stem_chs · width_factor, ch_div)</c>.</summary>
    public int StemChannels => Channels.MakeDivisible(StemWidth * WidthFactor, ChannelDivisor);

    /// <summary>
    /// Bottleneck width of stage <paramref name="stage"/>'s blocks, as timm's <c>NormFreeBlock</c> computes it:
    /// <c>mid = make_divisible(out · bottle_ratio, ch_div)</c>, <c>groups = mid // group_size</c>, and when the group
    /// size is a multiple of <c>ch_div</c>, <c>mid = group_size · groups</c>.
    /// </summary>
    public int MidWidth(int stage)
    {
        var mid = Channels.MakeDivisible(StageWidth(stage) * BottleneckRatio, ChannelDivisor);
        return GroupWidth % ChannelDivisor == 0 ? GroupWidth * (mid / GroupWidth) : mid;
    }

    /// <summary>Groups of stage <paramref name="stage"/>'s grouped 3×3 convs: the rounded bottleneck width over the group
    /// width, rounded down (timm: <c>mid_chs // group_size</c>).</summary>
    public int Groups(int stage) => Channels.MakeDivisible(StageWidth(stage) * BottleneckRatio, ChannelDivisor) / GroupWidth;

    /// <summary>Squeeze-Excite hidden width of stage <paramref name="stage"/>'s blocks (timm: <c>make_divisible(C·r, 8, round_limit=0)</c>).</summary>
    public int SeWidth(int stage) => Channels.MakeDivisible(StageWidth(stage) * SeRatio, ChannelDivisor, roundLimit: 0.0);

    /// <summary>
    /// Checks that the configuration describes a buildable network.
    /// </summary>
    /// <exception cref="InvalidNFNetConfigException">The first rule broken, with the field and the values.</exception>
    public NFNetConfig Validate()
    {
        void Fail(string field, string message) => throw new InvalidNFNetConfigException($"NFNetConfig '{Name}': {field}: {message}", field);

        if (Widths is null || Depths is null) Fail(nameof(Widths), "widths and depths are required");
        if (Widths!.Count == 0) Fail(nameof(Widths), "at least one stage is required");
        if (Widths.Count != Depths!.Count)
            Fail(nameof(Depths), $"expected one depth per stage ({Widths.Count} widths), got {Depths.Count} depths");
        for (var s = 0; s < Widths.Count; s++)
        {
            if (Widths[s] <= 0) Fail(nameof(Widths), $"stage {s} width must be positive, got {Widths[s]}");
            if (Depths[s] <= 0) Fail(nameof(Depths), $"stage {s} depth must be positive, got {Depths[s]}");
        }
        if (ModelLimits.Exceeded(Widths.Append(StemWidth).Append(GroupWidth), Depths, InChannels, NumClasses) is { } exceeded)
            Fail(nameof(ModelLimits), exceeded);
        if (!(WidthFactor <= 64) || !(FinalWidthMultiplier <= 64) || !(BottleneckRatio <= 64) || !(SeRatio <= 64))
            Fail(nameof(WidthFactor), $"width multipliers must be at most 64, got width factor {WidthFactor}, final {FinalWidthMultiplier}, bottleneck {BottleneckRatio}, SE {SeRatio}");
        if (GroupWidth <= 0) Fail(nameof(GroupWidth), $"must be positive, got {GroupWidth}");
        if (!(BottleneckRatio > 0)) Fail(nameof(BottleneckRatio), $"must be positive, got {BottleneckRatio}");
        if (!(SeRatio > 0)) Fail(nameof(SeRatio), $"must be positive, got {SeRatio}");
        if (ChannelDivisor <= 0) Fail(nameof(ChannelDivisor), $"must be positive, got {ChannelDivisor}");
        if (!(WidthFactor > 0)) Fail(nameof(WidthFactor), $"must be positive, got {WidthFactor}");
        // Validated after rounding, as timm builds: the rounded widths must give a valid grouped convolution.
        for (var s = 0; s < Widths.Count; s++)
        {
            var groups = Groups(s);
            var mid = MidWidth(s);
            if (groups < 1)
                Fail(nameof(GroupWidth), $"stage {s}: the rounded bottleneck width {Channels.MakeDivisible(StageWidth(s) * BottleneckRatio, ChannelDivisor)} " +
                    $"(width {StageWidth(s)} × {BottleneckRatio}, rounded to a multiple of {ChannelDivisor}) is smaller than the group width {GroupWidth}");
            else if (mid % groups != 0)
                Fail(nameof(GroupWidth), $"stage {s}: bottleneck width {mid} cannot be split into {groups} groups of the group width {GroupWidth} " +
                    $"(choose a group width that is a multiple of the channel divisor {ChannelDivisor}, as timm then corrects the width)");
        }
        if (StemChannels < 8)
            Fail(nameof(StemWidth), $"the deep-quad stem uses width/8, /4, /2: expected at least 8 after rounding, got {StemChannels}");
        if (!(Alpha > 0)) Fail(nameof(Alpha), $"must be positive, got {Alpha}");
        if (!(FinalWidthMultiplier > 0) || NumFeatures <= 0) Fail(nameof(FinalWidthMultiplier), $"must give a positive feature width, got {FinalWidthMultiplier}");
        if (NumClasses < 0) Fail(nameof(NumClasses), $"must be >= 0 (0 = no classifier), got {NumClasses}");
        if (InChannels <= 0) Fail(nameof(InChannels), $"must be positive, got {InChannels}");
        if (!(DropRate >= 0 && DropRate < 1)) Fail(nameof(DropRate), $"must be in [0, 1), got {DropRate}");
        if (!(StochasticDepthRate >= 0 && StochasticDepthRate < 1)) Fail(nameof(StochasticDepthRate), $"must be in [0, 1), got {StochasticDepthRate}");
        if (Activation == ActivationKind.Glu) Fail(nameof(Activation), "GLU halves the channel count and cannot be a trunk activation");
        if (!Enum.IsDefined(Activation)) Fail(nameof(Activation), $"unknown activation {(int)Activation}");
        if (StandardizationEps is { } eps && !(eps > 0)) Fail(nameof(StandardizationEps), $"must be positive, got {eps}");
        return this;
    }

    /// <summary>A one-line description: name, widths, depths, stem, groups, classes.</summary>
    public override string ToString() =>
        $"{Name}: widths [{string.Join(", ", Enumerable.Range(0, Widths.Count).Select(StageWidth))}], depths [{string.Join(", ", Depths)}], stem {StemChannels}, group width {GroupWidth}, " +
        $"features {NumFeatures}, {Activation}, {InChannels} → {NumClasses}";
}
