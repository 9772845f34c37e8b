namespace NfNet.Training.Images;

/// <summary>
/// Inception-style random-resized crop (Szegedy et al. 2015; the NFNet recipe's first augmentation, spec §11): pick a
/// crop covering a random fraction of the area in <see cref="MinScale"/>..<see cref="MaxScale"/> with a log-uniform aspect
/// ratio in <see cref="MinRatio"/>..<see cref="MaxRatio"/> (10 attempts, then a centre crop clamped to the ratio range, as
/// torchvision's <c>RandomResizedCrop.get_params</c>), and resize it to <see cref="Width"/>×<see cref="Height"/>.
/// </summary>
public sealed class RandomResizedCrop : IImageTransform
{
    /// <summary>A crop to <paramref name="size"/>² with the paper's ranges: area 0.08–1, ratio 3/4–4/3, bicubic.</summary>
    public RandomResizedCrop(int size, double minScale = 0.08, double maxScale = 1.0, double minRatio = 3.0 / 4, double maxRatio = 4.0 / 3,
        Interpolation interpolation = Interpolation.Bicubic)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "crop size must be positive");
        if (!(minScale > 0 && minScale <= maxScale && maxScale <= 1)) throw new ArgumentOutOfRangeException(nameof(minScale), "need 0 < minScale <= maxScale <= 1");
        if (!(minRatio > 0 && minRatio <= maxRatio)) throw new ArgumentOutOfRangeException(nameof(minRatio), "need 0 < minRatio <= maxRatio");
        Width = Height = size;
        (MinScale, MaxScale, MinRatio, MaxRatio, Interpolation) = (minScale, maxScale, minRatio, maxRatio, interpolation);
    }

    /// <summary>Output width.</summary>
    public int Width { get; }
    /// <summary>Output height.</summary>
    public int Height { get; }
    /// <summary>Smallest area fraction.</summary>
    public double MinScale { get; }
    /// <summary>Largest area fraction.</summary>
    public double MaxScale { get; }
    /// <summary>Smallest width/height ratio.</summary>
    public double MinRatio { get; }
    /// <summary>Largest width/height ratio.</summary>
    public double MaxRatio { get; }
    /// <summary>Resampling of the crop.</summary>
    public Interpolation Interpolation { get; }

    /// <summary>The crop rectangle for an image of <paramref name="width"/>×<paramref name="height"/> (torchvision's
    /// algorithm, drawing from <paramref name="random"/>).</summary>
    public (int Left, int Top, int Width, int Height) SampleCrop(int width, int height, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double area = (double)width * height;
        double logMin = Math.Log(MinRatio), logMax = Math.Log(MaxRatio);
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var target = area * (MinScale + (MaxScale - MinScale) * random.NextDouble());
            var ratio = Math.Exp(logMin + (logMax - logMin) * random.NextDouble());
            var w = (int)Math.Round(Math.Sqrt(target * ratio));
            var h = (int)Math.Round(Math.Sqrt(target / ratio));
            if (w > 0 && h > 0 && w <= width && h <= height)
                return (random.Next(width - w + 1), random.Next(height - h + 1), w, h);
        }
        // Fallback: the whole image, clamped to the ratio range, centred.
        double inRatio = (double)width / height;
        int cw = width, ch = height;
        if (inRatio < MinRatio) ch = (int)Math.Round(cw / MinRatio);
        else if (inRatio > MaxRatio) cw = (int)Math.Round(ch * MaxRatio);
        return ((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    /// <inheritdoc />
    public DecodedImage Apply(DecodedImage image, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (left, top, w, h) = SampleCrop(image.Width, image.Height, random);
        return SkiaPixels.Resize(image, left, top, w, h, Width, Height, Interpolation);
    }
}
