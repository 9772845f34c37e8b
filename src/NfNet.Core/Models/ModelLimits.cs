namespace NfNet.Models;

/// <summary>
/// Upper bounds every model configuration is checked against before anything is built, so that a configuration read
/// from an untrusted file (a checkpoint, a JSON config) cannot make the library allocate without bound. Each is far
/// above any published network: the largest NFNet (F7) has 56 blocks per stage at most, 6,144 channels and 1,000
/// classes; ImageNet-21k has 21,843.
/// </summary>
public static class ModelLimits
{
    /// <summary>Channels of any layer (a stage width, a stem or head width).</summary>
    public const int MaxWidth = 65_536;

    /// <summary>Blocks in one stage.</summary>
    public const int MaxDepth = 1_024;

    /// <summary>Stages.</summary>
    public const int MaxStages = 64;

    /// <summary>Input image channels (RGB is 3; multispectral and hyperspectral images have up to a few hundred).</summary>
    public const int MaxInChannels = 4_096;

    /// <summary>Classifier outputs.</summary>
    public const int MaxClasses = 1_000_000;

    /// <summary>
    /// The message of the first bound <paramref name="widths"/>, <paramref name="depths"/>, <paramref name="inChannels"/>
    /// or <paramref name="numClasses"/> exceed, or null when all hold (each configuration record's <c>Validate</c> turns
    /// it into its own typed exception).
    /// </summary>
    public static string? Exceeded(IEnumerable<int> widths, IEnumerable<int> depths, int inChannels, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(widths);
        ArgumentNullException.ThrowIfNull(depths);
        var w = widths.ToArray();
        var d = depths.ToArray();
        if (w.Length > MaxStages || d.Length > MaxStages) return $"at most {MaxStages} stages, got {Math.Max(w.Length, d.Length)}";
        if (w.FirstOrDefault(x => x > MaxWidth) is var wide and > 0) return $"a width of {wide} channels exceeds the limit of {MaxWidth}";
        if (d.FirstOrDefault(x => x > MaxDepth) is var deep and > 0) return $"a depth of {deep} blocks exceeds the limit of {MaxDepth} per stage";
        if (inChannels > MaxInChannels) return $"{inChannels} input channels exceed the limit of {MaxInChannels}";
        if (numClasses > MaxClasses) return $"{numClasses} classes exceed the limit of {MaxClasses}";
        return null;
    }
}
