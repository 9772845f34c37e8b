namespace NfNet.Training.Images;

/// <summary>Resizes the whole image to exactly <see cref="Width"/>×<see cref="Height"/> (torchvision's
/// <c>Resize((h, w))</c>), ignoring the aspect ratio.</summary>
public sealed class ResizeImage : IImageTransform
{
    /// <summary>A resize to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public ResizeImage(int width, int height, Interpolation interpolation = Interpolation.Bilinear)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"size must be positive, got {width}x{height}");
        (Width, Height, Interpolation) = (width, height, interpolation);
    }

    /// <summary>Output width.</summary>
    public int Width { get; }
    /// <summary>Output height.</summary>
    public int Height { get; }
    /// <summary>Resampling filter.</summary>
    public Interpolation Interpolation { get; }

    /// <inheritdoc />
    public DecodedImage Apply(DecodedImage image, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        return image.Width == Width && image.Height == Height
            ? image
            : SkiaPixels.Resize(image, 0, 0, image.Width, image.Height, Width, Height, Interpolation);
    }
}
