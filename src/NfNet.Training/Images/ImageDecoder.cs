using System.Runtime.InteropServices;
using SkiaSharp;

namespace NfNet.Training.Images;

/// <summary>
/// Decodes JPEG, PNG, WebP and BMP files with SkiaSharp (libjpeg-turbo, libpng, libwebp inside Skia) into
/// <see cref="DecodedImage"/>s matched to a <see cref="ChannelPolicy"/>. Every failure (empty file, truncated data, not an
/// image, another format) is an <see cref="ImageDecodeException"/> naming the file: never a native crash and never a
/// partly decoded image (Skia fills the missing rows of a truncated file with grey and reports it; we refuse it).
/// </summary>
public static class ImageDecoder
{
    /// <summary>The extensions an image data set looks for (lower case, with the dot).</summary>
    public static IReadOnlyList<string> Extensions { get; } = new[] { ".jpg", ".jpeg", ".png", ".webp", ".bmp" };

    /// <summary>Reads and decodes the file at <paramref name="path"/>: only a regular file (links followed) of at most
    /// 256 MiB is read, so a FIFO, a device or a link to one is refused by name instead of hanging or streaming without
    /// end.</summary>
    /// <exception cref="ImageDecodeException">The file is missing, not a regular file, too large, unreadable, empty,
    /// truncated, damaged or not an image.</exception>
    public static DecodedImage Decode(string path, ChannelPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(path);
        var bytes = NfNet.IO.ImageFileReader.Read(path, NfNet.IO.ImageFileReader.DefaultMaxBytes, reason => new ImageDecodeException(path, reason));
        return Decode(bytes, policy, path);
    }

    /// <summary>Decodes encoded image bytes; <paramref name="name"/> is used in error messages.</summary>
    /// <exception cref="ImageDecodeException">The bytes are empty, truncated, damaged or not an image.</exception>
    public static DecodedImage Decode(ReadOnlySpan<byte> bytes, ChannelPolicy policy, string name)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (bytes.IsEmpty) throw new ImageDecodeException(name, "the file is empty (0 bytes)");
        using var data = SKData.CreateCopy(bytes);
        // The codec owns the stream it decodes from.
        using var codec = SKCodec.Create(new SKMemoryStream(data), out var created);
        if (codec is null)
            throw new ImageDecodeException(name, created == SKCodecResult.IncompleteInput
                ? "the file is truncated (too short to hold an image header)"
                : $"not an image in a format that can be read (JPEG, PNG, WebP, BMP); starts with {Signature(bytes)}");
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Jpeg or SKEncodedImageFormat.Png or SKEncodedImageFormat.Webp or SKEncodedImageFormat.Bmp))
            throw new ImageDecodeException(name, $"{codec.EncodedFormat} images are not read: use JPEG, PNG, WebP or BMP");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (NfNet.IO.ImageFileReader.ImplausibleSize(width, height) is { } implausible) throw new ImageDecodeException(name, implausible);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[info.BytesSize];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        SKCodecResult result;
        try { result = codec.GetPixels(info, handle.AddrOfPinnedObject()); }
        finally { handle.Free(); }
        if (result == SKCodecResult.IncompleteInput)
            throw new ImageDecodeException(name, $"the file is truncated: the {codec.EncodedFormat} data ends before the last row of the {width}x{height} image");
        if (result == SKCodecResult.ErrorInInput)
            throw new ImageDecodeException(name, $"the {codec.EncodedFormat} data is damaged");
        if (result != SKCodecResult.Success)
            throw new ImageDecodeException(name, $"{codec.EncodedFormat} decoding failed ({result})");
        Resolve(pixels, policy);
        return new DecodedImage(width, height, pixels);
    }

    // Applies the alpha policy and, for one channel, luma (BT.601 integer weights as PIL's convert("L"), rounded).
    private static void Resolve(byte[] rgba, ChannelPolicy policy)
    {
        for (var i = 0; i < rgba.Length; i += 4)
        {
            var a = rgba[i + 3];
            if (a != 255)
            {
                switch (policy.Alpha)
                {
                    case AlphaPolicy.OverBlack:
                        for (var c = 0; c < 3; c++) rgba[i + c] = (byte)((rgba[i + c] * a + 127) / 255);
                        break;
                    case AlphaPolicy.OverWhite:
                        for (var c = 0; c < 3; c++) rgba[i + c] = (byte)((rgba[i + c] * a + 255 * (255 - a) + 127) / 255);
                        break;
                }
                rgba[i + 3] = 255;
            }
            if (policy.Channels == 1)
                rgba[i] = rgba[i + 1] = rgba[i + 2] = Luma(rgba[i], rgba[i + 1], rgba[i + 2]);
        }
    }

    /// <summary>ITU-R BT.601 luma as PIL computes it: <c>(299·R + 587·G + 114·B + 500) / 1000</c>.</summary>
    internal static byte Luma(byte r, byte g, byte b) => (byte)((299 * r + 587 * g + 114 * b + 500) / 1000);

    private static string Signature(ReadOnlySpan<byte> bytes)
    {
        var head = bytes[..Math.Min(8, bytes.Length)];
        return string.Join(' ', head.ToArray().Select(b => b.ToString("x2")));
    }
}
