using NfNet.Models;
using SkiaSharp;

namespace NfNet.Training.Images;

/// <summary>
/// RandAugment (Cubuk et al. 2020) with torchvision's search space (31 magnitude bins, 14 operations, each chosen
/// uniformly, signed operations negated with probability ½), applied <see cref="Layers"/> times at magnitude
/// <see cref="Magnitude"/>. NFNets use 4 layers at a per-variant magnitude (<see cref="NFNetConfig.RandAugment"/>:
/// F0 5, F1–F2 10, F3+ 15). Geometric operations fill with black and sample the nearest pixel.
/// </summary>
/// <remarks>
/// Written here rather than taken from TorchVision for .NET 0.107: its RandAugment runs libtorch tensor kernels per
/// image, which on the loader's threads compete with the training step for the same cores (and its Skia-based reader
/// returns silently wrong images for truncated files; README, "Image folders"). The geometric operations use SkiaSharp's nearest-neighbour drawing; the
/// colour operations are the byte formulas of torchvision's functional tensor ops, each checked against a hand
/// computation in the tests. The recipe (DeepMind's code) applies RandAugment after MixUp/CutMix; here it runs per image
/// before the batch is mixed, as timm and torchvision do.
/// </remarks>
public sealed class RandAugment : IImageTransform
{
    /// <summary>Magnitude bins of torchvision (<c>num_magnitude_bins=31</c>).</summary>
    public const int MagnitudeBins = 31;

    private static readonly RandAugmentOp[] Operations = Enum.GetValues<RandAugmentOp>();

    /// <summary><paramref name="layers"/> operations per image at <paramref name="magnitude"/> (0–30).</summary>
    public RandAugment(int layers, int magnitude)
    {
        if (layers < 0) throw new ArgumentOutOfRangeException(nameof(layers), layers, "layers must be >= 0");
        if (magnitude is < 0 or >= MagnitudeBins) throw new ArgumentOutOfRangeException(nameof(magnitude), magnitude, $"magnitude must be in 0..{MagnitudeBins - 1}");
        (Layers, Magnitude) = (layers, magnitude);
    }

    /// <summary>The variant's own setting (<see cref="NFNetConfig.RandAugment"/>).</summary>
    public RandAugment(RandAugmentSetting setting) : this(setting.Layers, setting.Magnitude) { }

    /// <summary>Operations per image.</summary>
    public int Layers { get; }
    /// <summary>Magnitude bin, 0–30.</summary>
    public int Magnitude { get; }

    /// <inheritdoc />
    public DecodedImage Apply(DecodedImage image, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(random);
        for (var i = 0; i < Layers; i++)
        {
            var op = Operations[random.Next(Operations.Length)];
            var value = MagnitudeOf(op, Magnitude, image.Width, image.Height);
            if (IsSigned(op) && random.Next(2) == 1) value = -value;
            image = ApplyOp(op, image, value);
        }
        return image;
    }

    /// <summary>The value of <paramref name="op"/> at magnitude bin <paramref name="magnitude"/> (torchvision's
    /// <c>_augmentation_space</c>): shear, pixels, degrees, blend offset v (factor 1 + v), bits or threshold.</summary>
    public static double MagnitudeOf(RandAugmentOp op, int magnitude, int width, int height)
    {
        double t = magnitude / (double)(MagnitudeBins - 1);
        return op switch
        {
            RandAugmentOp.ShearX or RandAugmentOp.ShearY => 0.3 * t,
            RandAugmentOp.TranslateX => Math.Truncate(150.0 / 331 * width * t),
            RandAugmentOp.TranslateY => Math.Truncate(150.0 / 331 * height * t),
            RandAugmentOp.Rotate => 30.0 * t,
            RandAugmentOp.Brightness or RandAugmentOp.Color or RandAugmentOp.Contrast or RandAugmentOp.Sharpness => 0.9 * t,
            RandAugmentOp.Posterize => 8 - (int)Math.Round(magnitude / ((MagnitudeBins - 1) / 4.0), MidpointRounding.ToEven),
            RandAugmentOp.Solarize => 255.0 * (1 - t),
            _ => 0,
        };
    }

    /// <summary>Whether torchvision negates the operation's value at random.</summary>
    public static bool IsSigned(RandAugmentOp op) => op is RandAugmentOp.ShearX or RandAugmentOp.ShearY or RandAugmentOp.TranslateX
        or RandAugmentOp.TranslateY or RandAugmentOp.Rotate or RandAugmentOp.Brightness or RandAugmentOp.Color
        or RandAugmentOp.Contrast or RandAugmentOp.Sharpness;

    /// <summary>Applies one operation with its value (see <see cref="RandAugmentOp"/> for the formulas).</summary>
    public static DecodedImage ApplyOp(RandAugmentOp op, DecodedImage image, double value)
    {
        ArgumentNullException.ThrowIfNull(image);
        switch (op)
        {
            case RandAugmentOp.Identity: return image;
            // The warps map input to output; each is the inverse of the documented output→input map.
            case RandAugmentOp.ShearX: return SkiaPixels.Warp(image, new SKMatrix(1, (float)-value, 0, 0, 1, 0, 0, 0, 1));
            case RandAugmentOp.ShearY: return SkiaPixels.Warp(image, new SKMatrix(1, 0, 0, (float)-value, 1, 0, 0, 0, 1));
            case RandAugmentOp.TranslateX: return SkiaPixels.Warp(image, SKMatrix.CreateTranslation((float)-value, 0));
            case RandAugmentOp.TranslateY: return SkiaPixels.Warp(image, SKMatrix.CreateTranslation(0, (float)-value));
            // Skia's positive angles turn clockwise on screen (y down); PIL's rotate turns counter-clockwise.
            case RandAugmentOp.Rotate: return SkiaPixels.Warp(image, SKMatrix.CreateRotationDegrees((float)-value, image.Width / 2f, image.Height / 2f));
            // Operations on single values run through a 256-entry lookup table per channel (one table lookup a byte).
            case RandAugmentOp.Brightness: return Lookup(image, Same(BlendTable(1 + value, 0)));
            case RandAugmentOp.Color: return BlendWithLuma(image, 1 + value);
            case RandAugmentOp.Contrast: return Lookup(image, Same(BlendTable(1 + value, MeanLuma(image))));
            case RandAugmentOp.Sharpness: return BlendWith(image, Smooth(image), 1 + value);
            case RandAugmentOp.Posterize:
                {
                    var mask = (byte)(0xFF << (8 - (int)value));
                    return Lookup(image, Same(Table(v => (byte)(v & mask))));
                }
            case RandAugmentOp.Solarize: return Lookup(image, Same(Table(v => v >= value ? (byte)(255 - v) : (byte)v)));
            case RandAugmentOp.AutoContrast: return AutoContrast(image);
            case RandAugmentOp.Equalize: return Equalize(image);
            default: throw new ArgumentOutOfRangeException(nameof(op), op, null);
        }
    }

    private static byte[] Table(Func<int, byte> f)
    {
        var table = new byte[256];
        for (var v = 0; v < 256; v++) table[v] = f(v);
        return table;
    }

    private static byte[][] Same(byte[] table) => new[] { table, table, table };

    // torchvision's _blend on uint8: clamp(f·v + (1 − f)·other, 0, 255), truncated.
    private static byte Blend(double factor, double v, double other) => (byte)Math.Clamp(factor * v + (1 - factor) * other, 0, 255);

    private static byte[] BlendTable(double factor, double other) => Table(v => Blend(factor, v, other));

    private static DecodedImage Lookup(DecodedImage image, byte[][] tables)
    {
        var p = image.Pixels;
        var result = new byte[p.Length];
        byte[] r = tables[0], g = tables[1], b = tables[2];
        for (var i = 0; i < p.Length; i += 4)
        {
            result[i] = r[p[i]];
            result[i + 1] = g[p[i + 1]];
            result[i + 2] = b[p[i + 2]];
            result[i + 3] = 255;
        }
        return new DecodedImage(image.Width, image.Height, result);
    }

    private static DecodedImage BlendWithLuma(DecodedImage image, double factor)
    {
        var p = image.Pixels;
        var result = new byte[p.Length];
        for (var i = 0; i < p.Length; i += 4)
        {
            double luma = ImageDecoder.Luma(p[i], p[i + 1], p[i + 2]);
            for (var c = 0; c < 3; c++) result[i + c] = Blend(factor, p[i + c], luma);
            result[i + 3] = 255;
        }
        return new DecodedImage(image.Width, image.Height, result);
    }

    private static DecodedImage BlendWith(DecodedImage image, byte[] other, double factor)
    {
        var p = image.Pixels;
        var result = new byte[p.Length];
        for (var i = 0; i < p.Length; i += 4)
        {
            for (var c = 0; c < 3; c++) result[i + c] = Blend(factor, p[i + c], other[i + c]);
            result[i + 3] = 255;
        }
        return new DecodedImage(image.Width, image.Height, result);
    }

    private static double MeanLuma(DecodedImage image)
    {
        var p = image.Pixels;
        double sum = 0;
        for (var i = 0; i < p.Length; i += 4) sum += ImageDecoder.Luma(p[i], p[i + 1], p[i + 2]);
        return sum / (image.Width * image.Height);
    }

    // The 3×3 smoothing of PIL's ImageFilter.SMOOTH as torchvision's adjust_sharpness uses it: rounded, border unchanged.
    // sum / 13 is never exactly k + ½ (13 is odd), so round(sum / 13) = (2·sum + 13) / 26 in integers.
    private static byte[] Smooth(DecodedImage image)
    {
        int w = image.Width, h = image.Height, row = 4 * w;
        var p = image.Pixels;
        var result = (byte[])p.Clone();
        for (var y = 1; y < h - 1; y++)
        {
            var centre = y * row;
            for (var x = 4; x < row - 4; x++)
            {
                if ((x & 3) == 3) continue; // alpha
                var i = centre + x;
                var sum = p[i - row - 4] + p[i - row] + p[i - row + 4] + p[i - 4] + 5 * p[i] + p[i + 4] + p[i + row - 4] + p[i + row] + p[i + row + 4];
                result[i] = (byte)((2 * sum + 13) / 26);
            }
        }
        return result;
    }

    private static DecodedImage AutoContrast(DecodedImage image)
    {
        var p = image.Pixels;
        var lo = new[] { 255, 255, 255 };
        var hi = new int[3];
        for (var i = 0; i < p.Length; i += 4)
            for (var c = 0; c < 3; c++)
            {
                lo[c] = Math.Min(lo[c], p[i + c]);
                hi[c] = Math.Max(hi[c], p[i + c]);
            }
        // (v − min) · 255 / (max − min) in integers: the exact quotient, truncated (a double 255/100 · 100 would give 254).
        // A flat channel is left as it is (torchvision: scale 1, minimum 0).
        var tables = new byte[3][];
        for (var c = 0; c < 3; c++)
        {
            var (low, high) = (lo[c], hi[c]);
            tables[c] = Table(v => high > low ? (byte)Math.Clamp((v - low) * 255 / (high - low), 0, 255) : (byte)v);
        }
        return Lookup(image, tables);
    }

    private static DecodedImage Equalize(DecodedImage image)
    {
        var p = image.Pixels;
        var luts = new byte[3][];
        for (var c = 0; c < 3; c++)
        {
            var histogram = new long[256];
            for (var i = c; i < p.Length; i += 4) histogram[p[i]]++;
            var last = 255;
            while (histogram[last] == 0) last--;
            var step = (histogram.Sum() - histogram[last]) / 255;
            var lut = new byte[256];
            if (step == 0)
            {
                for (var v = 0; v < 256; v++) lut[v] = (byte)v;
            }
            else
            {
                long cumulative = 0;
                for (var v = 0; v < 256; v++)
                {
                    lut[v] = (byte)Math.Min(255, (cumulative + step / 2) / step);
                    cumulative += histogram[v];
                }
            }
            luts[c] = lut;
        }
        return Lookup(image, luts);
    }
}
