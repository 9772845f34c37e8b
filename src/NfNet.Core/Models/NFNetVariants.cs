namespace NfNet.Models;

/// <summary>
/// The NFNet-F family as data (Brock et al. 2021, Table 7; DeepMind <c>nfnets/base.py</c> <c>nfnet_params</c> and
/// <c>experiment_nfnets.py</c>): widths 256/512/1536/1536, depths N × (1, 2, 6, 3), and per variant the train/eval
/// resolution, dropout and RandAugment magnitude of the paper's recipe. Every entry is an <see cref="NFNetConfig"/>;
/// one <see cref="NFNet"/> class builds any of them.
/// </summary>
public static class NFNetVariants
{
    private static NFNetConfig F(int n, int train, int eval, double drop, int magnitude) => new NFNetConfig
    {
        Name = $"F{n - 1}",
        Depths = new[] { n, 2 * n, 6 * n, 3 * n },
        TrainResolution = train,
        EvalResolution = eval,
        DropRate = drop,
        RandAugment = new RandAugmentSetting(4, magnitude),
    }.Validate();

    /// <summary>F0: depths 1, 2, 6, 3; 192 px train / 256 eval; dropout 0.2; RandAugment 4×5. 71,489,284 parameters.</summary>
    public static NFNetConfig F0 { get; } = F(1, 192, 256, 0.2, 5);
    /// <summary>F1: depths 2, 4, 12, 6; 224 / 320; dropout 0.3; RandAugment 4×10. 132,634,256 parameters.</summary>
    public static NFNetConfig F1 { get; } = F(2, 224, 320, 0.3, 10);
    /// <summary>F2: depths 3, 6, 18, 9; 256 / 352; dropout 0.4; RandAugment 4×10. 193,779,228 parameters.</summary>
    public static NFNetConfig F2 { get; } = F(3, 256, 352, 0.4, 10);
    /// <summary>F3: depths 4, 8, 24, 12; 320 / 416; dropout 0.4; RandAugment 4×15. 254,924,200 parameters.</summary>
    public static NFNetConfig F3 { get; } = F(4, 320, 416, 0.4, 15);
    /// <summary>F4: depths 5, 10, 30, 15; 384 / 512; dropout 0.5; RandAugment 4×15. 316,069,172 parameters.</summary>
    public static NFNetConfig F4 { get; } = F(5, 384, 512, 0.5, 15);
    /// <summary>F5: depths 6, 12, 36, 18; 416 / 544; dropout 0.5; RandAugment 4×15. 377,214,144 parameters.</summary>
    public static NFNetConfig F5 { get; } = F(6, 416, 544, 0.5, 15);
    /// <summary>F6: depths 7, 14, 42, 21; 448 / 576; dropout 0.5; RandAugment 4×15. 438,359,116 parameters.</summary>
    public static NFNetConfig F6 { get; } = F(7, 448, 576, 0.5, 15);
    /// <summary>F7: depths 8, 16, 48, 24; 480 / 608; dropout 0.5; RandAugment 4×15. 499,504,088 parameters (no released weights).</summary>
    public static NFNetConfig F7 { get; } = F(8, 480, 608, 0.5, 15);

    /// <summary>F0 … F7 in order.</summary>
    public static IReadOnlyList<NFNetConfig> All { get; } = new[] { F0, F1, F2, F3, F4, F5, F6, F7 };

    /// <summary>The variant names: F0 … F7.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(c => c.Name).ToArray();

    /// <summary>
    /// The variant called <paramref name="name"/>: "F0" … "F7", case-insensitive; timm's name of these networks
    /// (<c>dm_nfnet_f0</c>) and the paper's ("NFNet-F0") are accepted too. timm's <c>nfnet_f0</c> is not: timm builds
    /// it differently (γ inside every convolution, no skipinit, symmetric padding: 71,489,272 parameters, not 71,489,284);
    /// <see cref="NormFreeFamily.Get"/> has it.
    /// </summary>
    /// <exception cref="UnknownVariantException">No such variant; the message lists the known names.</exception>
    public static NFNetConfig Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.Trim().ToUpperInvariant();
        if (key.StartsWith("NFNET_", StringComparison.Ordinal))
            throw new UnknownVariantException(name, Names,
                $"timm's {name.Trim()} is not DeepMind's network (γ inside every convolution, no skipinit, symmetric padding): " +
                $"timm's is NormFreeFamily.Get(\"{name.Trim().ToLowerInvariant()}\"), DeepMind's is dm_{name.Trim().ToLowerInvariant()}");
        foreach (var prefix in new[] { "DM_NFNET_", "NFNET-" })
            if (key.StartsWith(prefix, StringComparison.Ordinal)) key = key[prefix.Length..];
        return All.FirstOrDefault(c => c.Name == key) ?? throw new UnknownVariantException(name, Names);
    }

    /// <summary>The registry name of a network built from <paramref name="config"/>: <c>dm_nfnet_f0</c> … for a
    /// configuration named like a variant (F0 … F7, whatever its class count or rates), its own name otherwise.</summary>
    public static string RegistryName(NFNetConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Names.Contains(config.Name) ? $"dm_nfnet_{config.Name.ToLowerInvariant()}" : config.Name;
    }

    /// <summary>The <see cref="PretrainedConfig"/> of a network built from <paramref name="config"/>: its published weights'
    /// (<see cref="PublishedWeights"/>) where its registry name has some, otherwise its own train/eval resolutions,
    /// bicubic, ImageNet statistics and crop 0.9 (squashed for DeepMind's F-models, as their published ones).</summary>
    internal static PretrainedConfig PretrainedConfigOf(NFNetConfig config)
    {
        if (PublishedWeights.DefaultFor(RegistryName(config)) is { } published) return published.ToPretrainedConfig(config.RandAugment);
        return new PretrainedConfig(config.TrainResolution, config.EvalResolution, "bicubic", PretrainedConfig.ImageNetMean,
            PretrainedConfig.ImageNetStd, 0.9, Names.Contains(config.Name) ? "squash" : "center", config.RandAugment);
    }
}
