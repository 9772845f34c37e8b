namespace NfNet.Training.Images;

/// <summary>
/// A decoded 8-bit image in memory: <see cref="Pixels"/> holds <see cref="Width"/>·<see cref="Height"/> RGBA quadruples,
/// row by row, opaque (alpha 255: transparency is resolved at decode by <see cref="AlphaPolicy"/>). A grey image has
/// R = G = B. Four bytes a pixel because that is SkiaSharp's native layout: resizing and affine warps run on it in
/// place, without a conversion per transform. Images are produced by <see cref="ImageDecoder"/> and the transforms,
/// and are not shared between threads.
/// </summary>
public sealed class DecodedImage
{
    /// <summary>Wraps <paramref name="rgba"/> (not copied).</summary>
    /// <exception cref="ArgumentException">The sizes are not positive or the buffer has the wrong length.</exception>
    public DecodedImage(int width, int height, byte[] rgba)
    {
        ArgumentNullException.ThrowIfNull(rgba);
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}x{height}");
        if (rgba.Length != 4L * width * height)
            throw new ArgumentException($"a {width}x{height} RGBA image needs {4L * width * height} bytes, got {rgba.Length}", nameof(rgba));
        Width = width;
        Height = height;
        Pixels = rgba;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>RGBA bytes, row-major, 4 per pixel.</summary>
    public byte[] Pixels { get; }

    /// <summary>A black image.</summary>
    public static DecodedImage Black(int width, int height)
    {
        var image = new DecodedImage(width, height, new byte[4L * width * height]);
        for (var i = 3; i < image.Pixels.Length; i += 4) image.Pixels[i] = 255;
        return image;
    }

    /// <summary>An image from one grey byte per pixel (R = G = B = the value).</summary>
    public static DecodedImage FromGrey(int width, int height, ReadOnlySpan<byte> grey)
    {
        if (grey.Length != width * height) throw new ArgumentException($"{width}x{height} needs {width * height} grey bytes, got {grey.Length}", nameof(grey));
        var rgba = new byte[4 * grey.Length];
        for (var i = 0; i < grey.Length; i++)
        {
            rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = grey[i];
            rgba[4 * i + 3] = 255;
        }
        return new DecodedImage(width, height, rgba);
    }

    /// <summary>Channel <paramref name="channel"/> (0 R, 1 G, 2 B) of pixel (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public byte this[int x, int y, int channel] => Pixels[4 * (y * Width + x) + channel];
}
