using System.Text.Json;
using System.Text.Json.Serialization;
using NfNet.Layers;

namespace NfNet.Models;

/// <summary>
/// Everything that defines a normalizer-free network — timm's <c>NfCfg</c>, field for field, plus the regularisation and
/// the resolutions of its recipe. The whole family is rows of it: DeepMind's F0–F7 (<see cref="NFNetVariants"/>), timm's
/// <c>nfnet_f*</c>, the light <c>nfnet_l0</c>/<c>eca_nfnet_l*</c>, NF-RegNet-B0–B5 and the pre-activation NF-ResNets
/// (<see cref="NormFreeFamily"/>). A custom network is a <c>with</c> expression away
/// (<c>NFNetVariants.F0 with { NumClasses = 10, InChannels = 1 }</c>), or timm's <c>NfCfg</c> as JSON
/// (<see cref="FromTimm(string, string, NFNetConfig?)"/>).
/// </summary>
/// <remarks>Defaults are DeepMind's F0 (timm's <c>dm_nfnet_f0</c>), so that the records written by earlier versions
/// keep their meaning.</remarks>
public sealed record NFNetConfig
{
    /// <summary>A display name ("F0", a timm name such as "eca_nfnet_l0", or anything for a custom configuration).</summary>
    public string Name { get; init; } = "custom";

    /// <summary>Output width of each stage before <see cref="WidthFactor"/> (timm's <c>channels</c>). F: 256, 512, 1536, 1536.</summary>
    public IReadOnlyList<int> Widths { get; init; } = new[] { 256, 512, 1536, 1536 };

    /// <summary>Blocks per stage (timm's <c>depths</c>). F-N: N × (1, 2, 6, 3).</summary>
    public IReadOnlyList<int> Depths { get; init; } = new[] { 1, 2, 6, 3 };

    /// <summary>
    /// The stem, by timm's name: <c>deep_quad</c> (four 3×3 convs, width/8, /4, /2, width at strides 2, 1, 1, 2: NFNet-F),
    /// <c>deep</c> (three: width/2, /2, width at strides 2, 1, 1), <c>deep_tiered</c> (3·width/8, width/2, width),
    /// <c>3x3</c> (one 3×3 conv at stride 2: RegNet), <c>7x7</c> (one 7×7 conv at stride 2: ResNet), and
    /// <c>deep_pool</c>, <c>3x3_pool</c>, <c>7x7_pool</c>, which add a 3×3 max pool at stride 2. F: <c>deep_quad</c>.
    /// </summary>
    public string StemType { get; init; } = StemTypes.DeepQuad;

    /// <summary>Width of the stem's last conv before <see cref="WidthFactor"/>; null takes the first stage's width
    /// (timm's <c>stem_chs</c>). F: 128.</summary>
    public int? StemWidth { get; init; } = 128;

    /// <summary>Channels per group in the 3×3 convs; null makes them dense (timm's <c>group_size</c>). F: 128.</summary>
    public int? GroupWidth { get; init; } = 128;

    /// <summary>The channel attention, by timm's name: <c>se</c> (Squeeze-Excite), <c>eca</c> (Efficient Channel Attention),
    /// or null for none (timm's <c>attn_layer</c>). F: <c>se</c>.</summary>
    public string? AttentionLayer { get; init; } = AttentionLayers.SqueezeExcite;

    /// <summary>Squeeze-Excite's hidden width as a fraction of its channels (timm's <c>attn_kwargs['rd_ratio']</c>;
    /// timm's SE default is 1/16). ECA has no hidden layer. F: 0.5.</summary>
    public double AttentionRatio { get; init; } = 0.5;

    /// <summary>Squeeze-Excite's hidden width is a multiple of this (timm's <c>attn_kwargs['rd_divisor']</c>). Default 8.</summary>
    public int AttentionDivisor { get; init; } = 8;

    /// <summary>Multiplier of the attention's output, restoring the variance its gate halves (timm's <c>attn_gain</c>). F: 2.</summary>
    public double AttentionGain { get; init; } = 2.0;

    /// <summary>The residual branch scale alpha. F: 0.2.</summary>
    public double Alpha { get; init; } = 0.2;

    /// <summary>Width of <c>final_conv</c> before <see cref="WidthFactor"/> (timm's <c>num_features</c>); 0 builds none
    /// and pools the last stage; null (the default) takes <see cref="FinalWidthMultiplier"/> times the last stage's width
    /// (timm's <c>feat_mult</c>). F: null, i.e. 2 × 1536 = 3072.</summary>
    public int? FinalFeatures { get; init; }

    /// <summary>Width of <c>final_conv</c> as a multiple of the last stage's width, when <see cref="FinalFeatures"/> is
    /// null (timm's <c>feat_mult</c>). F: 2.</summary>
    public double FinalWidthMultiplier { get; init; } = 2.0;

    /// <summary>The trunk's nonlinearity, with its γ from <see cref="ActivationGammas"/>. F: exact GELU, as timm
    /// (DeepMind runs the tanh form).</summary>
    public ActivationKind Activation { get; init; } = ActivationKind.Gelu;

    /// <summary>Where γ is applied (timm's <c>gamma_in_act</c>): true, as DeepMind does, multiplies each activation's
    /// output; false, as timm's own models do, folds it into every convolution's weight scale, the stem's first conv and
    /// <c>final_conv</c> included, and leaves the last activation unscaled. The two are different networks. F: true.</summary>
    public bool GammaInActivation { get; init; } = true;

    /// <summary>Whether each block has a learnable residual gain initialised to 0 (<c>skipinit_gain</c>; timm's
    /// <c>skipinit</c>). DeepMind's F-models: true; timm's own models: false.</summary>
    public bool SkipInit { get; init; } = true;

    /// <summary>Whether the classifier starts at zero (timm's <c>zero_init_fc</c>); otherwise N(0, 0.01²).</summary>
    public bool ZeroInitFc { get; init; }

    /// <summary>RegNet blocks (timm's <c>reg</c>): the bottleneck width is scaled from the block's input (the network's
    /// first block at ratio 1), and the attention sits between the grouped conv and the last 1×1 conv.</summary>
    public bool Reg { get; init; }

    /// <summary>Classifier outputs; 0 builds no classifier (<c>forward</c> returns pooled features).</summary>
    public int NumClasses { get; init; } = 1000;

    /// <summary>The network's total stride (timm's <c>output_stride</c>): 32, or 16 or 8 for dense feature maps, where the
    /// last stages keep their resolution and dilate their 3×3 convolutions instead of striding (a backbone for
    /// segmentation or detection). The parameters are the same at every output stride.</summary>
    public int OutputStride { get; init; } = 32;

    /// <summary>The head's global pool (timm's <c>global_pool</c>): average by default; <see cref="GlobalPool.CatAvgMax"/>
    /// doubles the classifier's input; <see cref="GlobalPool.None"/> returns the feature map and needs 0 classes.</summary>
    public GlobalPool GlobalPool { get; init; } = GlobalPool.Avg;

    /// <summary>Input image channels.</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Dropout before the classifier, training only (inverted scaling). F0: 0.2 … F4–F7: 0.5.</summary>
    public double DropRate { get; init; } = 0.2;

    /// <summary>Network-wide stochastic depth rate; 0.25 in DeepMind's training config for every variant.</summary>
    public double StochasticDepthRate { get; init; } = 0.25;

    /// <summary>Stochastic depth schedule and scaling (DeepMind's by default).</summary>
    public StochasticDepthMode StochasticDepthMode { get; init; } = StochasticDepthMode.DeepMind;

    /// <summary>Training resolution of the recipe (timm's <c>input_size</c>). F0: 192.</summary>
    public int TrainResolution { get; init; } = 192;

    /// <summary>Evaluation resolution of the recipe (timm's <c>test_input_size</c>). F0: 256.</summary>
    public int EvalResolution { get; init; } = 256;

    /// <summary>RandAugment setting of the recipe. F0: 4 ops at magnitude 5.</summary>
    public RandAugmentSetting RandAugment { get; init; } = new(4, 5);

    /// <summary>Weight standardization formula (timm's, so timm weights load exactly).</summary>
    public WeightStandardization Standardization { get; init; } = WeightStandardization.Timm;

    /// <summary>Weight standardization epsilon (timm's <c>std_conv_eps</c>); null takes the formula's default (1e-5 timm,
    /// 1e-4 DeepMind).</summary>
    public double? StandardizationEps { get; init; }

    /// <summary>Conv padding: TF "SAME", as DeepMind's and timm's dm_ weights expect, or symmetric
    /// <c>((s − 1) + d(k − 1)) / 2</c> as timm's own models (timm's <c>same_padding</c>).</summary>
    public ConvPadding Padding { get; init; } = ConvPadding.Same;

    /// <summary>Whether blocks have the second grouped 3×3 conv (<c>conv2b</c>) of NFNet-F (timm's <c>extra_conv</c>). F: true.</summary>
    public bool ExtraConv { get; init; } = true;

    /// <summary>Channel rounding divisor (timm's <c>ch_div</c>): stage, stem, feature and bottleneck widths are rounded
    /// to multiples of it, as timm builds them. F: 8.</summary>
    public int ChannelDivisor { get; init; } = 8;

    /// <summary>Width multiplier applied to the stage, stem and feature widths before rounding (timm's
    /// <c>width_factor</c>). F: 1.</summary>
    public double WidthFactor { get; init; } = 1.0;

    /// <summary>Bottleneck width as a fraction of the block's output width, or of its input width with <see cref="Reg"/>
    /// (timm's <c>bottle_ratio</c>). F: 0.5.</summary>
    public double BottleneckRatio { get; init; } = 0.5;

    /// <summary>Channels of the pooled features: <c>final_conv</c>'s, <c>make_divisible(width_factor · num_features,
    /// ch_div)</c>, or the last stage's when there is no final conv.</summary>
    [JsonIgnore]
    public int NumFeatures => HasFinalConv
        ? Channels.MakeDivisible(WidthFactor * (FinalFeatures ?? (int)(Widths[^1] * FinalWidthMultiplier)), ChannelDivisor)
        : StageWidth(Widths.Count - 1);

    /// <summary>Whether the network has a <c>final_conv</c> (<see cref="FinalFeatures"/> is not 0).</summary>
    [JsonIgnore]
    public bool HasFinalConv => FinalFeatures != 0;

    /// <summary>Total number of blocks.</summary>
    [JsonIgnore]
    public int BlockCount => Depths.Sum();

    /// <summary>Output width of stage <paramref name="stage"/> as built: <c>make_divisible(widths[s] · width_factor, ch_div)</c>
    /// (timm <c>NormFreeNet</c>).</summary>
    public int StageWidth(int stage) => Channels.MakeDivisible(Widths[stage] * WidthFactor, ChannelDivisor);

    /// <summary>Width of the stem's last conv as built: <c>make_divisible((stem_chs or channels[0]) · width_factor, ch_div)</c>.</summary>
    [JsonIgnore]
    public int StemChannels => Channels.MakeDivisible((StemWidth ?? Widths[0]) * WidthFactor, ChannelDivisor);

    /// <summary>The stem's total stride: 4 for <c>deep_quad</c> and the <c>_pool</c> stems, 2 otherwise (then the first
    /// stage strides too, so the network's stride is 32 either way).</summary>
    [JsonIgnore]
    public int StemStride => StemTypes.Stride(StemType);

    /// <summary>
    /// Builds the configuration timm's <c>NfCfg</c> describes, from its fields as JSON (<c>dataclasses.asdict(cfg)</c>:
    /// <c>depths</c>, <c>channels</c>, <c>stem_type</c>, <c>group_size</c>, <c>attn_layer</c>, <c>attn_kwargs</c>, …).
    /// Fields left out take <c>NfCfg</c>'s defaults; the recipe fields (classes, rates, resolutions) take
    /// <paramref name="template"/>'s, or timm's model defaults (1000 classes, no dropout, no stochastic depth, 224 px).
    /// </summary>
    /// <param name="json">A JSON object of <c>NfCfg</c> fields.</param>
    /// <param name="name">The display name of the result.</param>
    /// <param name="template">Where the non-architecture fields come from; null for timm's defaults.</param>
    /// <exception cref="InvalidNFNetConfigException">A field is unknown, of the wrong type, or describes an unbuildable network
    /// (the message names it).</exception>
    public static NFNetConfig FromTimm(string json, string name = "custom", NFNetConfig? template = null) =>
        TimmNfCfg.Read(json, name, template);

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
        if (ModelLimits.Exceeded(Widths.Append(StemWidth ?? 0).Append(GroupWidth ?? 0).Append(FinalFeatures ?? 0), Depths, InChannels, NumClasses) is { } exceeded)
            Fail(nameof(ModelLimits), exceeded);
        if (!(WidthFactor <= 64) || !(FinalWidthMultiplier <= 64) || !(BottleneckRatio <= 64) || !(AttentionRatio <= 64))
            Fail(nameof(WidthFactor), $"width multipliers must be at most 64, got width factor {WidthFactor}, final {FinalWidthMultiplier}, bottleneck {BottleneckRatio}, attention {AttentionRatio}");
        if (StemTypes.Stride(StemType, orZero: true) == 0)
            Fail(nameof(StemType), $"unknown stem '{StemType}'; timm's stems are {string.Join(", ", StemTypes.All)}");
        if (StemWidth is <= 0) Fail(nameof(StemWidth), $"must be positive (or null for the first stage's width), got {StemWidth}");
        if (GroupWidth is <= 0) Fail(nameof(GroupWidth), $"must be positive (or null for dense convolutions), got {GroupWidth}");
        if (!AttentionLayers.IsKnown(AttentionLayer))
            Fail(nameof(AttentionLayer), $"'{AttentionLayer}' is not built here; the NormFreeNet attentions are {string.Join(", ", AttentionLayers.All)} or none (null)");
        if (!(AttentionRatio > 0)) Fail(nameof(AttentionRatio), $"must be positive, got {AttentionRatio}");
        if (AttentionDivisor <= 0) Fail(nameof(AttentionDivisor), $"must be positive, got {AttentionDivisor}");
        if (!double.IsFinite(AttentionGain)) Fail(nameof(AttentionGain), $"must be a finite number, got {AttentionGain}");
        if (!(BottleneckRatio > 0)) Fail(nameof(BottleneckRatio), $"must be positive, got {BottleneckRatio}");
        if (ChannelDivisor <= 0) Fail(nameof(ChannelDivisor), $"must be positive, got {ChannelDivisor}");
        if (!(WidthFactor > 0)) Fail(nameof(WidthFactor), $"must be positive, got {WidthFactor}");
        if (FinalFeatures < 0) Fail(nameof(FinalFeatures), $"must be >= 0 (0 = no final convolution) or null, got {FinalFeatures}");
        if (FinalFeatures is null && (!(FinalWidthMultiplier > 0) || (int)(Widths[^1] * FinalWidthMultiplier) <= 0))
            Fail(nameof(FinalWidthMultiplier), $"must give a positive feature width, got {FinalWidthMultiplier}");
        // Validated after rounding, as timm builds: every block's rounded widths must give a valid grouped convolution.
        if (GroupWidth is { } groupWidth)
            foreach (var (stage, inWidth, ratio) in BottleneckInputs())
            {
                var from = Reg ? inWidth : StageWidth(stage);
                var rounded = Channels.MakeDivisible(from * ratio, ChannelDivisor);
                var (mid, groups) = Bottleneck(from, ratio);
                if (groups < 1)
                    Fail(nameof(GroupWidth), $"stage {stage}: the rounded bottleneck width {rounded} " +
                        $"({from} × {ratio}, rounded to a multiple of {ChannelDivisor}) is smaller than the group width {groupWidth}");
                else if (mid % groups != 0)
                    Fail(nameof(GroupWidth), $"stage {stage}: bottleneck width {mid} cannot be split into {groups} groups of the group width {groupWidth} " +
                        $"(choose a group width that is a multiple of the channel divisor {ChannelDivisor}, as timm then corrects the width)");
            }
        if (StemType == StemTypes.DeepQuad && StemChannels < 8)
            Fail(nameof(StemWidth), $"the deep-quad stem uses width/8, /4, /2: expected at least 8 after rounding, got {StemChannels}");
        if (StemType.StartsWith("deep", StringComparison.Ordinal) && StemChannels < 3)
            Fail(nameof(StemWidth), $"the deep stems use width/2 and 3·width/8: expected at least 3 after rounding, got {StemChannels}");
        if (!(Alpha > 0)) Fail(nameof(Alpha), $"must be positive, got {Alpha}");
        if (NumClasses < 0) Fail(nameof(NumClasses), $"must be >= 0 (0 = no classifier), got {NumClasses}");
        if (OutputStride is not (8 or 16 or 32)) Fail(nameof(OutputStride), $"must be 8, 16 or 32, got {OutputStride}");
        if (!Enum.IsDefined(GlobalPool)) Fail(nameof(GlobalPool), $"unknown global pool {(int)GlobalPool}");
        if (GlobalPool == GlobalPool.None && NumClasses != 0)
            Fail(nameof(GlobalPool), $"no pooling leaves a feature map, which a classifier cannot read: use 0 classes (got {NumClasses})");
        if (InChannels <= 0) Fail(nameof(InChannels), $"must be positive, got {InChannels}");
        if (!(DropRate >= 0 && DropRate < 1)) Fail(nameof(DropRate), $"must be in [0, 1), got {DropRate}");
        if (!(StochasticDepthRate >= 0 && StochasticDepthRate < 1)) Fail(nameof(StochasticDepthRate), $"must be in [0, 1), got {StochasticDepthRate}");
        if (Activation == ActivationKind.Glu) Fail(nameof(Activation), "GLU halves the channel count and cannot be a trunk activation");
        if (!Enum.IsDefined(Activation)) Fail(nameof(Activation), $"unknown activation {(int)Activation}");
        if (StandardizationEps is { } eps && !(eps > 0)) Fail(nameof(StandardizationEps), $"must be positive, got {eps}");
        return this;
    }

    /// <summary>
    /// A block's bottleneck as timm's <c>NormFreeBlock</c> computes it from the width it scales
    /// (<paramref name="from"/>: the output width, or the input width with <see cref="Reg"/>):
    /// <c>mid = make_divisible(from · ratio, ch_div)</c>, <c>groups = mid // group_size</c> (1 when dense), and when the
    /// group size is a multiple of <c>ch_div</c>, <c>mid = group_size · groups</c>.
    /// </summary>
    internal (int Mid, int Groups) Bottleneck(int from, double ratio)
    {
        var mid = Channels.MakeDivisible(from * ratio, ChannelDivisor);
        if (GroupWidth is not { } groupWidth) return (mid, 1);
        var groups = mid / groupWidth;
        return (groupWidth % ChannelDivisor == 0 ? groupWidth * groups : mid, groups);
    }

    /// <summary>Each block's stage, input width and bottleneck ratio, in order (the network's first block of a
    /// <see cref="Reg"/> network scales at ratio 1, as timm's).</summary>
    internal IEnumerable<(int Stage, int InWidth, double Ratio)> BottleneckInputs()
    {
        var inWidth = StemChannels;
        for (var s = 0; s < Depths.Count; s++)
            for (var b = 0; b < Depths[s]; b++)
            {
                yield return (s, inWidth, Reg && s == 0 && b == 0 ? 1.0 : BottleneckRatio);
                inWidth = StageWidth(s);
            }
    }

    /// <summary>A one-line description: name, widths, depths, stem, groups, attention, classes.</summary>
    public override string ToString() =>
        $"{Name}: widths [{string.Join(", ", Enumerable.Range(0, Widths.Count).Select(StageWidth))}], depths [{string.Join(", ", Depths)}], " +
        $"stem {StemType} {StemChannels}, {(GroupWidth is { } g ? $"group width {g}" : "dense")}, {AttentionLayer ?? "no attention"}{(Reg ? ", reg" : "")}, " +
        $"features {NumFeatures}, {Activation}{(GammaInActivation ? "" : " (γ in the convs)")}, {InChannels} → {NumClasses}";
}
