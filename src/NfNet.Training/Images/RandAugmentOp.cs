namespace NfNet.Training.Images;

/// <summary>The 14 operations of RandAugment (Cubuk et al. 2020), in torchvision's order.</summary>
public enum RandAugmentOp
{
    /// <summary>No change.</summary>
    Identity,
    /// <summary>Horizontal shear: output (x, y) = input (x + s·y, y) (PIL's affine, nearest); s ≤ 0.3, signed.</summary>
    ShearX,
    /// <summary>Vertical shear: output (x, y) = input (x, y + s·x); s ≤ 0.3, signed.</summary>
    ShearY,
    /// <summary>Horizontal shift by t px (≤ 150/331 of the width), signed; vacated pixels are black.</summary>
    TranslateX,
    /// <summary>Vertical shift by t px (≤ 150/331 of the height), signed.</summary>
    TranslateY,
    /// <summary>Rotation by up to 30° about the centre (counter-clockwise for positive angles), nearest, signed.</summary>
    Rotate,
    /// <summary>Blend with black by factor 1 + v (v ≤ 0.9, signed).</summary>
    Brightness,
    /// <summary>Saturation: blend with the grey (luma) image by factor 1 + v.</summary>
    Color,
    /// <summary>Blend with the mean luma by factor 1 + v.</summary>
    Contrast,
    /// <summary>Blend with the 3×3 smoothed image (kernel 1,1,1 / 1,5,1 / 1,1,1 ÷ 13, border kept) by factor 1 + v.</summary>
    Sharpness,
    /// <summary>Keep the top 8 − round(m / 7.5) bits of each value.</summary>
    Posterize,
    /// <summary>Invert the values at or above the threshold 255·(1 − m/30).</summary>
    Solarize,
    /// <summary>Stretch each channel's range to 0..255.</summary>
    AutoContrast,
    /// <summary>Histogram equalisation per channel (PIL's/torchvision's lookup table).</summary>
    Equalize,
}
