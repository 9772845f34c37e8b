using System.Runtime.InteropServices;
using SkiaSharp;

namespace NfNet.Training.Images;

/// <summary>
/// The one door from <see cref="DecodedImage"/> to SkiaSharp's resampling and drawing: pins the byte arrays for the
/// duration of a call and wraps them as Skia pixmaps (no copies).
/// </summary>
internal static class SkiaPixels
{
    /// <summary>Resamples the rectangle (<paramref name="left"/>, <paramref name="top"/>, <paramref name="width"/>,
    /// <paramref name="height"/>) of <paramref name="source"/> to <paramref name="outWidth"/>×<paramref name="outHeight"/>.</summary>
    public static DecodedImage Resize(DecodedImage source, int left, int top, int width, int height, int outWidth, int outHeight, Interpolation interpolation)
    {
        if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > source.Width || top + height > source.Height)
            throw new ArgumentException($"crop ({left}, {top}, {width}x{height}) is outside the {source.Width}x{source.Height} image");
        var result = new DecodedImage(outWidth, outHeight, new byte[4L * outWidth * outHeight]);
        var sourceHandle = GCHandle.Alloc(source.Pixels, GCHandleType.Pinned);
        var resultHandle = GCHandle.Alloc(result.Pixels, GCHandleType.Pinned);
        try
        {
            using var all = new SKPixmap(Info(source.Width, source.Height), sourceHandle.AddrOfPinnedObject(), 4 * source.Width);
            using var crop = all.ExtractSubset(new SKRectI(left, top, left + width, top + height))
                ?? throw new InvalidOperationException("SkiaSharp could not take the crop");
            using var destination = new SKPixmap(Info(outWidth, outHeight), resultHandle.AddrOfPinnedObject(), 4 * outWidth);
            if (!crop.ScalePixels(destination, Sampling(interpolation)))
                throw new InvalidOperationException($"SkiaSharp could not resample {width}x{height} to {outWidth}x{outHeight}");
        }
        finally
        {
            sourceHandle.Free();
            resultHandle.Free();
        }
        return result;
    }

    /// <summary>Draws <paramref name="source"/> through the affine map <paramref name="inputToOutput"/> onto a black image
    /// of the same size, sampling the nearest source pixel (torchvision's RandAugment default).</summary>
    public static DecodedImage Warp(DecodedImage source, SKMatrix inputToOutput)
    {
        var result = DecodedImage.Black(source.Width, source.Height);
        var sourceHandle = GCHandle.Alloc(source.Pixels, GCHandleType.Pinned);
        var resultHandle = GCHandle.Alloc(result.Pixels, GCHandleType.Pinned);
        try
        {
            using var target = new SKBitmap();
            target.InstallPixels(Info(source.Width, source.Height), resultHandle.AddrOfPinnedObject(), 4 * source.Width);
            using var canvas = new SKCanvas(target);
            canvas.SetMatrix(inputToOutput);
            // FromPixels wraps the pinned bytes (FromBitmap would copy a mutable bitmap).
            using var image = SKImage.FromPixels(Info(source.Width, source.Height), sourceHandle.AddrOfPinnedObject(), 4 * source.Width)
                ?? throw new InvalidOperationException("SkiaSharp could not wrap the image");
            using var paint = new SKPaint { IsAntialias = false, BlendMode = SKBlendMode.Src };
            canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None), paint);
            canvas.Flush();
        }
        finally
        {
            sourceHandle.Free();
            resultHandle.Free();
        }
        return result;
    }

    private static SKImageInfo Info(int width, int height) => new(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);

    private static SKSamplingOptions Sampling(Interpolation interpolation) => interpolation switch
    {
        Interpolation.Nearest => new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None),
        Interpolation.Bilinear => new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None),
        Interpolation.Bicubic => new SKSamplingOptions(SKCubicResampler.CatmullRom),
        _ => throw new ArgumentOutOfRangeException(nameof(interpolation), interpolation, null),
    };
}
