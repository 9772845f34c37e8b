namespace NfNet.Models;

/// <summary>The channel attentions a NormFreeNet block can have (<see cref="NFNetConfig.AttentionLayer"/>), by timm's names.</summary>
public static class AttentionLayers
{
    /// <summary>Squeeze-Excite (Hu et al. 2018): pool, 1×1 conv, ReLU, 1×1 conv, sigmoid (timm's <c>se</c>).</summary>
    public const string SqueezeExcite = "se";

    /// <summary>Efficient Channel Attention (Wang et al. 2020): pool, a 1-D conv across channels whose width grows with
    /// log₂ of the channels, sigmoid (timm's <c>eca</c>).</summary>
    public const string EfficientChannel = "eca";

    /// <summary>The attentions built here.</summary>
    public static IReadOnlyList<string> All { get; } = new[] { SqueezeExcite, EfficientChannel };

    /// <summary>Whether <paramref name="name"/> is one of <see cref="All"/> or none (null or empty).</summary>
    internal static bool IsKnown(string? name) => string.IsNullOrEmpty(name) || All.Contains(name);
}
