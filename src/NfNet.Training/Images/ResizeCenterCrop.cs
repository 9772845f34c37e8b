using NfNet.Models;
using NfNet.Weights;

namespace NfNet.Training.Images;

/// <summary>
/// The evaluation transform: resize to <c>floor(size / crop_pct)</c> (<see cref="EvalResizeMode"/>), then take the
/// centred <see cref="Size"/>² crop (torchvision's <c>CenterCrop</c> rounding: offset <c>round((L − size) / 2)</c>).
/// </summary>
public sealed class ResizeCenterCrop : IImageTransform
{
    /// <summary>An eval transform to <paramref name="size"/>² that resizes to <c>size / cropPercent</c> first.</summary>
    public ResizeCenterCrop(int size, double cropPercent = 1.0, EvalResizeMode mode = EvalResizeMode.ShorterSide,
        Interpolation interpolation = Interpolation.Bicubic)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be positive");
        if (!(cropPercent > 0 && cropPercent <= 1)) throw new ArgumentOutOfRangeException(nameof(cropPercent), cropPercent, "crop_pct must be in (0, 1]");
        (Size, CropPercent, Mode, Interpolation) = (size, cropPercent, mode, interpolation);
    }

    /// <summary>timm's evaluation transform for a published NFNet at <paramref name="size"/> (default: its test size):
    /// squash to <c>size / crop_pct</c>, bicubic, centre crop.</summary>
    public static ResizeCenterCrop ForPretrained(PretrainedVariant variant, int? size = null)
    {
        ArgumentNullException.ThrowIfNull(variant);
        return new ResizeCenterCrop(size ?? variant.TestSize, variant.CropPercent, EvalResizeMode.Squash, Interpolation.Bicubic);
    }

    /// <summary>The evaluation transform a model's <see cref="PretrainedConfig"/> asks for (timm's <c>validate.py</c>
    /// transform): its crop fraction, crop mode and filter, at <paramref name="size"/> (default: its test size).</summary>
    /// <exception cref="ArgumentException">The configuration names a filter or crop mode this library does not have.</exception>
    public static ResizeCenterCrop For(PretrainedConfig config, int? size = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ResizeCenterCrop(size ?? config.TestInputSize, config.CropPercent, ModeOf(config), InterpolationOf(config));
    }

    /// <summary>timm's interpolation name as the library's filter.</summary>
    internal static Interpolation InterpolationOf(PretrainedConfig config) => config.Interpolation switch
    {
        "bicubic" => Interpolation.Bicubic,
        "bilinear" => Interpolation.Bilinear,
        "nearest" => Interpolation.Nearest,
        var other => throw new ArgumentException($"interpolation '{other}' is not one of bicubic, bilinear, nearest", nameof(config)),
    };

    private static EvalResizeMode ModeOf(PretrainedConfig config) => config.CropMode switch
    {
        "squash" => EvalResizeMode.Squash,
        "center" => EvalResizeMode.ShorterSide,
        var other => throw new ArgumentException($"crop mode '{other}' is not one of squash, center", nameof(config)),
    };

    /// <summary>Output side.</summary>
    public int Size { get; }
    /// <summary>timm's <c>crop_pct</c>.</summary>
    public double CropPercent { get; }
    /// <summary>How the image is resized before the crop.</summary>
    public EvalResizeMode Mode { get; }
    /// <summary>Resampling filter.</summary>
    public Interpolation Interpolation { get; }

    /// <summary>The resized width and height for an image of <paramref name="width"/>×<paramref name="height"/>.</summary>
    public (int Width, int Height) ResizedSize(int width, int height)
    {
        var scaled = (int)Math.Floor(Size / CropPercent);
        if (Mode == EvalResizeMode.Squash) return (scaled, scaled);
        // torchvision's Resize(int): the shorter side becomes `scaled`, the longer int(scaled * long / short).
        return width <= height
            ? (scaled, (int)((long)scaled * height / width))
            : ((int)((long)scaled * width / height), scaled);
    }

    /// <inheritdoc />
    public DecodedImage Apply(DecodedImage image, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (w, h) = ResizedSize(image.Width, image.Height);
        var resized = w == image.Width && h == image.Height ? image : SkiaPixels.Resize(image, 0, 0, image.Width, image.Height, w, h, Interpolation);
        return CenterCrop(resized, Size);
    }

    /// <summary>The centred <paramref name="size"/>² crop (black padding where the image is smaller, as torchvision).</summary>
    public static DecodedImage CenterCrop(DecodedImage image, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Width == size && image.Height == size) return image;
        var left = (int)Math.Round((image.Width - size) / 2.0, MidpointRounding.ToEven);
        var top = (int)Math.Round((image.Height - size) / 2.0, MidpointRounding.ToEven);
        var result = DecodedImage.Black(size, size);
        for (var y = 0; y < size; y++)
        {
            var sy = y + top;
            if (sy < 0 || sy >= image.Height) continue;
            for (var x = 0; x < size; x++)
            {
                var sx = x + left;
                if (sx < 0 || sx >= image.Width) continue;
                Buffer.BlockCopy(image.Pixels, 4 * (sy * image.Width + sx), result.Pixels, 4 * (y * size + x), 4);
            }
        }
        return result;
    }
}
