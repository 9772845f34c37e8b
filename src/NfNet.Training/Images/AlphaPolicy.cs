namespace NfNet.Training.Images;

/// <summary>What the decoder does with an image's transparency (PNG/WebP/BMP with alpha).</summary>
public enum AlphaPolicy
{
    /// <summary>Keep the colour values and ignore alpha, as PIL's <c>convert("RGB")</c> does (torchvision's default loader).</summary>
    Drop,
    /// <summary>Composite over black: <c>c·a/255</c>.</summary>
    OverBlack,
    /// <summary>Composite over white: <c>c·a/255 + 255·(1 − a/255)</c> (for transparent product photos).</summary>
    OverWhite,
}
