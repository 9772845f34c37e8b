using SkiaSharp;

namespace NfNet.Onnx.Runtime;

/// <summary>
/// timm's evaluation transform with SkiaSharp, no libtorch: decode (JPEG, PNG, WebP, BMP, …), resize the shorter side to
/// <c>size / crop_pct</c> (bicubic, Mitchell; a non-square size, or the model's <c>squash</c> crop mode, resizes both
/// sides), centre-crop to the exported height × width, scale to [0, 1] and normalise
/// with the file's mean and std, as CHW floats ready for <see cref="OnnxClassifier.Logits"/>.
/// </summary>
public static class ImagePreprocessor
{
    /// <summary>The image at <paramref name="path"/> as [C, H, W] floats for <paramref name="classifier"/> (its size,
    /// channels, crop, mean and std; without a recorded mean/std the values stay in [0, 1]).</summary>
    /// <remarks>The file is untrusted, with the same limits as the training decoder's: only a regular file of at most
    /// 256 MiB is read, an image of more than 2²⁸ pixels is refused before its pixels are allocated, and a truncated or
    /// damaged one is refused, never completed with grey.</remarks>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a regular file, is too large, or cannot be decoded as a whole
    /// image; the message names it.</exception>
    public static float[] Load(string path, OnnxClassifier classifier)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(classifier);
        if (!File.Exists(path)) throw new FileNotFoundException($"no image at '{path}'", path);
        var bytes = NfNet.IO.ImageFileReader.Read(path, NfNet.IO.ImageFileReader.DefaultMaxBytes, reason => new InvalidDataException($"'{path}': {reason}"));
        return Load(bytes, path, classifier);
    }

    /// <summary>Encoded image bytes (a request's body, a file read elsewhere) as [C, H, W] floats for
    /// <paramref name="classifier"/>, with the limits of <see cref="Load(string, OnnxClassifier)"/>.</summary>
    /// <param name="encoded">The image file's bytes.</param>
    /// <param name="name">The image's name in error messages.</param>
    /// <param name="classifier">The model whose size, crop, mean and std apply.</param>
    /// <exception cref="InvalidDataException">The bytes are not a whole image of a plausible size; the message names it.</exception>
    public static float[] Load(ReadOnlySpan<byte> encoded, string name, OnnxClassifier classifier)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(classifier);
        using var bitmap = Decode(encoded, name);
        return Preprocess(bitmap, classifier.Height, classifier.Width, classifier.Channels, classifier.CropPercent ?? 1.0, classifier.Mean, classifier.Std,
            squash: classifier.CropMode == "squash");
    }

    // The whole image or an exception: the size is checked before the pixels are allocated, and an incomplete decode
    // is refused.
    private static SKBitmap Decode(ReadOnlySpan<byte> bytes, string path)
    {
        if (bytes.Length == 0) throw new InvalidDataException($"'{path}': the file is empty (0 bytes)");
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(new SKMemoryStream(data), out var created)
            ?? throw new InvalidDataException($"'{path}' is not an image SkiaSharp can decode ({(created == SKCodecResult.IncompleteInput ? "truncated" : "another format")})");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (NfNet.IO.ImageFileReader.ImplausibleSize(width, height) is { } implausible) throw new InvalidDataException($"'{path}': {implausible}");
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        if (result == SKCodecResult.Success) return bitmap;
        bitmap.Dispose();
        throw new InvalidDataException(result == SKCodecResult.IncompleteInput
            ? $"'{path}': the file is truncated: the {codec.EncodedFormat} data ends before the last row of the {width}x{height} image"
            : $"'{path}': the {codec.EncodedFormat} data is damaged ({result})");
    }

    /// <summary>The transform on a decoded bitmap; with <paramref name="squash"/> both sides are resized to
    /// <c>size / crop_pct</c> whatever the aspect ratio (timm's <c>crop_mode='squash'</c>), instead of the shorter side.</summary>
    /// <exception cref="ArgumentException">A size or the crop fraction is out of range, or mean/std have the wrong length.</exception>
    public static float[] Preprocess(SKBitmap bitmap, int height, int width, int channels, double cropPercent,
        IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null, bool squash = false)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        if (height <= 0 || width <= 0) throw new ArgumentException($"the output size must be positive, got {height}x{width}");
        if (channels is not (1 or 3)) throw new ArgumentException($"1 (grey) or 3 (RGB) channels, got {channels}", nameof(channels));
        if (!(cropPercent > 0 && cropPercent <= 1)) throw new ArgumentException($"crop_pct must be in (0, 1], got {cropPercent}", nameof(cropPercent));
        if (mean is not null && mean.Count != channels || std is not null && std.Count != channels)
            throw new ArgumentException($"mean and std need {channels} values", nameof(mean));

        // timm's transforms_imagenet_eval: a square size resizes the shorter side to floor(size / crop_pct), keeping the
        // aspect ratio; a non-square one, or crop_mode 'squash', resizes to exactly (floor(h / crop_pct), floor(w / crop_pct)).
        // Then CenterCrop.
        int resizedWidth, resizedHeight;
        if (height == width && !squash)
        {
            var scale = Math.Floor(height / cropPercent) / Math.Min(bitmap.Width, bitmap.Height);
            resizedWidth = Math.Max(width, (int)Math.Round(bitmap.Width * scale));
            resizedHeight = Math.Max(height, (int)Math.Round(bitmap.Height * scale));
        }
        else
        {
            resizedWidth = (int)Math.Floor(width / cropPercent);
            resizedHeight = (int)Math.Floor(height / cropPercent);
        }
        using var resized = resizedWidth == bitmap.Width && resizedHeight == bitmap.Height
            ? bitmap.Copy()
            : bitmap.Resize(new SKImageInfo(resizedWidth, resizedHeight), new SKSamplingOptions(SKCubicResampler.Mitchell));
        var left = (resizedWidth - width) / 2;
        var top = (resizedHeight - height) / 2;

        var result = new float[channels * height * width];
        var plane = height * width;
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var c = resized.GetPixel(left + x, top + y);
                var at = y * width + x;
                if (channels == 3)
                {
                    result[at] = Normalise(c.Red, 0, mean, std);
                    result[plane + at] = Normalise(c.Green, 1, mean, std);
                    result[2 * plane + at] = Normalise(c.Blue, 2, mean, std);
                }
                else
                {
                    // ITU-R BT.601 luma, as PIL's convert("L").
                    result[at] = Normalise((byte)Math.Round(0.299 * c.Red + 0.587 * c.Green + 0.114 * c.Blue), 0, mean, std);
                }
            }
        return result;
    }

    private static float Normalise(byte value, int channel, IReadOnlyList<float>? mean, IReadOnlyList<float>? std) =>
        (value / 255f - (mean?[channel] ?? 0f)) / (std?[channel] ?? 1f);
}
