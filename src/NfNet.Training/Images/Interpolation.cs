namespace NfNet.Training.Images;

/// <summary>Resampling filter of a resize.</summary>
public enum Interpolation
{
    /// <summary>Nearest neighbour.</summary>
    Nearest,
    /// <summary>Bilinear at pixel centres (torchvision/PIL's <c>BILINEAR</c> when enlarging).</summary>
    Bilinear,
    /// <summary>Bicubic, Catmull-Rom (a = −0.5, PIL's and torchvision's <c>BICUBIC</c>): the NFNet recipe's and timm's
    /// <c>dm_nfnet_*</c> interpolation.</summary>
    Bicubic,
}
