namespace NfNet.Models;

/// <summary>timm's NormFreeNet stem names (<see cref="NFNetConfig.StemType"/>), and what each one's shape implies.</summary>
public static class StemTypes
{
    /// <summary>Four 3×3 convs, width/8, /4, /2, width at strides 2, 1, 1, 2 (NFNet-F).</summary>
    public const string DeepQuad = "deep_quad";
    /// <summary>Three 3×3 convs, width/2, /2, width at strides 2, 1, 1 ('D' ResNets).</summary>
    public const string Deep = "deep";
    /// <summary>Three 3×3 convs, 3·width/8, width/2, width at strides 2, 1, 1 ('T' ResNets).</summary>
    public const string DeepTiered = "deep_tiered";
    /// <summary>One 3×3 conv at stride 2 (RegNet).</summary>
    public const string Conv3x3 = "3x3";
    /// <summary>One 7×7 conv at stride 2 (ResNet).</summary>
    public const string Conv7x7 = "7x7";
    /// <summary><see cref="Deep"/>, then a 3×3 max pool at stride 2.</summary>
    public const string DeepPool = "deep_pool";
    /// <summary><see cref="Conv3x3"/>, then a 3×3 max pool at stride 2.</summary>
    public const string Conv3x3Pool = "3x3_pool";
    /// <summary><see cref="Conv7x7"/>, then a 3×3 max pool at stride 2 (the NF-ResNets).</summary>
    public const string Conv7x7Pool = "7x7_pool";

    /// <summary>Every stem name timm's <c>create_stem</c> accepts (its empty name means <see cref="Conv7x7"/> and is
    /// accepted too).</summary>
    public static IReadOnlyList<string> All { get; } = new[] { DeepQuad, Deep, DeepTiered, Conv3x3, Conv7x7, DeepPool, Conv3x3Pool, Conv7x7Pool };

    /// <summary>The stem's output stride: 4 with four convs or a pool, 2 otherwise; 0 for an unknown name when
    /// <paramref name="orZero"/>.</summary>
    /// <exception cref="InvalidNFNetConfigException">Unknown name (and not <paramref name="orZero"/>).</exception>
    internal static int Stride(string? stemType, bool orZero = false)
    {
        if (stemType == "") return 2;
        if (stemType is null || !All.Contains(stemType))
            return orZero ? 0 : throw new InvalidNFNetConfigException($"unknown stem '{stemType}'; timm's stems are {string.Join(", ", All)}", nameof(NFNetConfig.StemType));
        return stemType == DeepQuad || stemType.EndsWith("_pool", StringComparison.Ordinal) ? 4 : 2;
    }

    /// <summary>Whether the stem ends with the 3×3 max pool.</summary>
    internal static bool Pools(string stemType) => stemType.EndsWith("_pool", StringComparison.Ordinal);

    /// <summary>The output widths and strides of the stem's convs for a last width of <paramref name="width"/> (timm's
    /// <c>create_stem</c>).</summary>
    internal static IReadOnlyList<(int Width, int Kernel, int Stride)> Convs(string stemType, int width) => stemType switch
    {
        DeepQuad => new[] { (width / 8, 3, 2), (width / 4, 3, 1), (width / 2, 3, 1), (width, 3, 2) },
        DeepTiered => new[] { (3 * width / 8, 3, 2), (width / 2, 3, 1), (width, 3, 1) },
        Deep or DeepPool => new[] { (width / 2, 3, 2), (width / 2, 3, 1), (width, 3, 1) },
        Conv3x3 or Conv3x3Pool => new[] { (width, 3, 2) },
        _ => new[] { (width, 7, 2) },
    };
}
