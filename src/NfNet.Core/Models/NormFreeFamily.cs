using NfNet.Layers;

namespace NfNet.Models;

/// <summary>
/// Every NormFreeNet timm registers (<c>timm/models/nfnet.py</c>'s <c>model_cfgs</c>), as rows of
/// <see cref="NFNetConfig"/> under timm's names, plus <c>dm_nfnet_f7</c>: DeepMind's F0–F7 (<c>dm_nfnet_f*</c>,
/// <see cref="NFNetVariants"/>), timm's NFNet-F (<c>nfnet_f0</c>–<c>f7</c>: γ in the convolutions, no skipinit,
/// symmetric padding), the light NFNets (<c>nfnet_l0</c>, <c>eca_nfnet_l0</c>–<c>l3</c>: SiLU, group width 64,
/// bottleneck 0.25), NF-RegNet-B0–B5 (<c>nf_regnet_b*</c>), the pre-activation NF-ResNets (<c>nf_resnet*</c>,
/// <c>nf_seresnet*</c>, <c>nf_ecaresnet*</c>) and <c>test_nfnet</c>. Adding a member is a line of data here.
/// </summary>
/// <remarks>timm's rows carry timm's model defaults for the recipe (no dropout, no stochastic depth: timm's
/// <c>create_model</c> defaults) and the image sizes of timm's <c>default_cfgs</c>; DeepMind's rows carry the paper's
/// recipe.</remarks>
public static class NormFreeFamily
{
    // NfCfg's own defaults, with timm's model defaults for the recipe fields.
    private static readonly NFNetConfig NfCfg = TimmNfCfg.NfCfgDefaults;

    private static NFNetConfig Sized(NFNetConfig config, int train, int? test = null) =>
        config with { TrainResolution = train, EvalResolution = test ?? train };

    // timm's _nfnet_cfg: the NFNet-F layout with γ in the convolutions.
    private static NFNetConfig NfnetCfg(string name, int[] depths, int[] channels, int groupSize = 128, double bottleRatio = 0.5,
        double featMult = 2.0, ActivationKind act = ActivationKind.Gelu, string attn = AttentionLayers.SqueezeExcite,
        double rdRatio = 0.5, int rdDivisor = 8) => NfCfg with
        {
            Name = name,
            Depths = depths,
            Widths = channels,
            StemType = StemTypes.DeepQuad,
            StemWidth = 128,
            GroupWidth = groupSize,
            BottleneckRatio = bottleRatio,
            ExtraConv = true,
            FinalFeatures = (int)(channels[^1] * featMult),
            Activation = act,
            AttentionLayer = attn,
            AttentionRatio = rdRatio,
            AttentionDivisor = rdDivisor,
        };

    private static readonly int[] FChannels = { 256, 512, 1536, 1536 };
    private static int[] FDepths(int n) => new[] { n, 2 * n, 6 * n, 3 * n };

    private static NFNetConfig NfnetF(int n, int train, int test) => Sized(NfnetCfg($"nfnet_f{n - 1}", FDepths(n), FChannels), train, test);

    private static NFNetConfig Light(string name, int n, double featMult, string attn, int train, int test) =>
        Sized(NfnetCfg(name, FDepths(n), FChannels, groupSize: 64, bottleRatio: 0.25, featMult: featMult,
            act: ActivationKind.Silu, attn: attn, rdRatio: 0.25), train, test);

    // timm's _nfreg_cfg: RegNet blocks, 3×3 stem, width factor 0.75, a final conv of 1280 · channels[-1] / 440.
    private static NFNetConfig RegNet(string name, int[] depths, int[]? channels, int train, int test)
    {
        channels ??= new[] { 48, 104, 208, 440 };
        return Sized(NfCfg with
        {
            Name = name,
            Depths = depths,
            Widths = channels,
            StemType = StemTypes.Conv3x3,
            GroupWidth = 8,
            WidthFactor = 0.75,
            BottleneckRatio = 2.25,
            FinalFeatures = 1280 * channels[^1] / 440,
            Reg = true,
            AttentionLayer = AttentionLayers.SqueezeExcite,
            AttentionRatio = 0.5,
        }, train, test);
    }

    // timm's _nfres_cfg: pre-activation ResNet, 7×7 stem with a max pool, ReLU, dense bottlenecks of 0.25.
    private static NFNetConfig ResNet(string name, int[] depths, string? attn = null, double rdRatio = 1.0 / 16) =>
        Sized(NfCfg with
        {
            Name = name,
            Depths = depths,
            Widths = new[] { 256, 512, 1024, 2048 },
            StemType = StemTypes.Conv7x7Pool,
            StemWidth = 64,
            BottleneckRatio = 0.25,
            Activation = ActivationKind.Relu,
            AttentionLayer = attn,
            AttentionRatio = rdRatio,
        }, 224);

    private static readonly int[] R26 = { 2, 2, 2, 2 }, R50 = { 3, 4, 6, 3 }, R101 = { 3, 4, 23, 3 };

    private static readonly (string Name, NFNetConfig Config)[] Rows =
    {
        ("dm_nfnet_f0", NFNetVariants.F0), ("dm_nfnet_f1", NFNetVariants.F1), ("dm_nfnet_f2", NFNetVariants.F2),
        ("dm_nfnet_f3", NFNetVariants.F3), ("dm_nfnet_f4", NFNetVariants.F4), ("dm_nfnet_f5", NFNetVariants.F5),
        ("dm_nfnet_f6", NFNetVariants.F6), ("dm_nfnet_f7", NFNetVariants.F7),

        ("nfnet_f0", NfnetF(1, 192, 256)), ("nfnet_f1", NfnetF(2, 224, 320)), ("nfnet_f2", NfnetF(3, 256, 352)),
        ("nfnet_f3", NfnetF(4, 320, 416)), ("nfnet_f4", NfnetF(5, 384, 512)), ("nfnet_f5", NfnetF(6, 416, 544)),
        ("nfnet_f6", NfnetF(7, 448, 576)), ("nfnet_f7", NfnetF(8, 480, 608)),

        ("nfnet_l0", Light("nfnet_l0", 1, 1.5, AttentionLayers.SqueezeExcite, 224, 288)),
        ("eca_nfnet_l0", Light("eca_nfnet_l0", 1, 1.5, AttentionLayers.EfficientChannel, 224, 288)),
        ("eca_nfnet_l1", Light("eca_nfnet_l1", 2, 2.0, AttentionLayers.EfficientChannel, 256, 320)),
        ("eca_nfnet_l2", Light("eca_nfnet_l2", 3, 2.0, AttentionLayers.EfficientChannel, 320, 384)),
        ("eca_nfnet_l3", Light("eca_nfnet_l3", 4, 2.0, AttentionLayers.EfficientChannel, 352, 448)),

        ("nf_regnet_b0", RegNet("nf_regnet_b0", new[] { 1, 3, 6, 6 }, null, 192, 256)),
        ("nf_regnet_b1", RegNet("nf_regnet_b1", new[] { 2, 4, 7, 7 }, null, 256, 288)),
        ("nf_regnet_b2", RegNet("nf_regnet_b2", new[] { 2, 4, 8, 8 }, new[] { 56, 112, 232, 488 }, 240, 272)),
        ("nf_regnet_b3", RegNet("nf_regnet_b3", new[] { 2, 5, 9, 9 }, new[] { 56, 128, 248, 528 }, 288, 320)),
        ("nf_regnet_b4", RegNet("nf_regnet_b4", new[] { 2, 6, 11, 11 }, new[] { 64, 144, 288, 616 }, 320, 384)),
        ("nf_regnet_b5", RegNet("nf_regnet_b5", new[] { 3, 7, 14, 14 }, new[] { 80, 168, 336, 704 }, 384, 456)),

        ("nf_resnet26", ResNet("nf_resnet26", R26)),
        ("nf_resnet50", ResNet("nf_resnet50", R50) with { TrainResolution = 256, EvalResolution = 288 }),
        ("nf_resnet101", ResNet("nf_resnet101", R101)),
        ("nf_seresnet26", ResNet("nf_seresnet26", R26, AttentionLayers.SqueezeExcite)),
        ("nf_seresnet50", ResNet("nf_seresnet50", R50, AttentionLayers.SqueezeExcite)),
        ("nf_seresnet101", ResNet("nf_seresnet101", R101, AttentionLayers.SqueezeExcite)),
        ("nf_ecaresnet26", ResNet("nf_ecaresnet26", R26, AttentionLayers.EfficientChannel)),
        ("nf_ecaresnet50", ResNet("nf_ecaresnet50", R50, AttentionLayers.EfficientChannel)),
        ("nf_ecaresnet101", ResNet("nf_ecaresnet101", R101, AttentionLayers.EfficientChannel)),

        ("test_nfnet", Sized(NfnetCfg("test_nfnet", new[] { 1, 1, 1, 1 }, new[] { 32, 64, 96, 128 }, groupSize: 8,
            bottleRatio: 0.25, featMult: 1.5, act: ActivationKind.Silu, rdRatio: 0.25), 160)),
    };

    /// <summary>The registry names, in timm's order (DeepMind's F-models first).</summary>
    public static IReadOnlyList<string> Names { get; } = Rows.Select(r => r.Name).ToArray();

    /// <summary>The configuration registered as <paramref name="name"/> (timm's name, case-insensitive).</summary>
    /// <exception cref="UnknownModelException">No such member; the message names the near ones.</exception>
    public static NFNetConfig Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.Trim();
        foreach (var (rowName, config) in Rows)
            if (string.Equals(rowName, key, StringComparison.OrdinalIgnoreCase)) return config;
        throw new UnknownModelException(name, Names);
    }
}
