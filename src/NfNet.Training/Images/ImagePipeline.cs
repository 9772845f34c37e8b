using NfNet.Models;
using NfNet.Weights;

namespace NfNet.Training.Images;

/// <summary>
/// Decode → transforms → normalise: everything between an image file and the model's input, for one sample. The output
/// is <see cref="Channels"/>×<see cref="Height"/>×<see cref="Width"/> floats, <c>(v/255 − mean) / std</c> per channel.
/// Presets: <see cref="Train"/> (the paper's crop, flip and RandAugment), <see cref="Eval"/> and
/// <see cref="ForPretrained"/> (timm's evaluation of published weights).
/// </summary>
public sealed class ImagePipeline
{
    private readonly float[] _scale;
    private readonly float[] _offset;

    /// <summary>A pipeline producing <paramref name="width"/>×<paramref name="height"/> images.</summary>
    /// <exception cref="ArgumentException">Sizes are not positive, or mean/std do not have one value per channel, or a std is not positive.</exception>
    public ImagePipeline(IReadOnlyList<IImageTransform> transforms, ChannelPolicy channels, int width, int height,
        IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        ArgumentNullException.ThrowIfNull(channels);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (width <= 0 || height <= 0) throw new ArgumentException($"output size must be positive, got {width}x{height}");
        if (mean.Count != channels.Channels || std.Count != channels.Channels)
            throw new ArgumentException($"mean and std need {channels.Channels} values (one per channel), got {mean.Count} and {std.Count}", nameof(mean));
        if (std.Any(s => !(s > 0))) throw new ArgumentException("every std must be positive", nameof(std));
        (Transforms, Policy, Width, Height, Mean, Std) = (transforms.ToArray(), channels, width, height, mean.ToArray(), std.ToArray());
        _scale = std.Select(s => (float)(1 / (255.0 * s))).ToArray();
        _offset = mean.Zip(std, (m, s) => (float)(-m / s)).ToArray();
    }

    /// <summary>The transforms, in order.</summary>
    public IReadOnlyList<IImageTransform> Transforms { get; }
    /// <summary>How files are matched to the model's channels.</summary>
    public ChannelPolicy Policy { get; }
    /// <summary>Output channels.</summary>
    public int Channels => Policy.Channels;
    /// <summary>Output width.</summary>
    public int Width { get; }
    /// <summary>Output height.</summary>
    public int Height { get; }
    /// <summary>Per-channel mean (on [0, 1]).</summary>
    public IReadOnlyList<double> Mean { get; }
    /// <summary>Per-channel standard deviation.</summary>
    public IReadOnlyList<double> Std { get; }
    /// <summary>Floats per sample.</summary>
    public int SampleLength => Channels * Height * Width;

    /// <summary>
    /// The paper's training transform at <paramref name="resolution"/>: random-resized crop (0.08–1, 3/4–4/3, bicubic),
    /// horizontal flip, RandAugment (<paramref name="randAugment"/>; null for none), ImageNet mean/std by default.
    /// </summary>
    /// <remarks>Bicubic is DeepMind's choice for the crop's resize; torchvision's <c>RandomResizedCrop</c> defaults to bilinear.</remarks>
    public static ImagePipeline Train(int resolution, RandAugmentSetting? randAugment, ChannelPolicy? channels = null,
        IReadOnlyList<double>? mean = null, IReadOnlyList<double>? std = null, Interpolation interpolation = Interpolation.Bicubic)
    {
        channels ??= ChannelPolicy.Rgb;
        var transforms = new List<IImageTransform> { new RandomResizedCrop(resolution, interpolation: interpolation), new RandomHorizontalFlip() };
        if (randAugment is { } ra) transforms.Add(new RandAugment(ra));
        return new ImagePipeline(transforms, channels, resolution, resolution, mean ?? DefaultMean(channels), std ?? DefaultStd(channels));
    }

    /// <summary>The evaluation transform: resize to <c>resolution / cropPercent</c>, centre crop, normalise.</summary>
    public static ImagePipeline Eval(int resolution, double cropPercent = 0.875, EvalResizeMode mode = EvalResizeMode.ShorterSide,
        ChannelPolicy? channels = null, IReadOnlyList<double>? mean = null, IReadOnlyList<double>? std = null)
    {
        channels ??= ChannelPolicy.Rgb;
        return new ImagePipeline(new IImageTransform[] { new ResizeCenterCrop(resolution, cropPercent, mode) }, channels,
            resolution, resolution, mean ?? DefaultMean(channels), std ?? DefaultStd(channels));
    }

    /// <summary>timm's evaluation of a published NFNet (<c>dm_nfnet_f0</c> …): squash to <c>size / crop_pct</c>, bicubic,
    /// centre crop, its mean/std, at its test size unless <paramref name="resolution"/> says otherwise.</summary>
    public static ImagePipeline ForPretrained(PretrainedVariant variant, int? resolution = null)
    {
        ArgumentNullException.ThrowIfNull(variant);
        var size = resolution ?? variant.TestSize;
        return new ImagePipeline(new IImageTransform[] { ResizeCenterCrop.ForPretrained(variant, size) }, ChannelPolicy.Rgb, size, size,
            variant.Mean, variant.Std);
    }

    /// <summary>The evaluation pipeline a model's <see cref="PretrainedConfig"/> asks for (timm's <c>validate.py</c>):
    /// its crop, filter and normalisation at <paramref name="resolution"/> (default: its test size). With a channel policy
    /// other than RGB the configuration's RGB statistics do not apply and the single-channel defaults are used.</summary>
    public static ImagePipeline ForModel(PretrainedConfig config, int? resolution = null, ChannelPolicy? channels = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        channels ??= ChannelPolicy.Rgb;
        var size = resolution ?? config.TestInputSize;
        var rgb = channels.Channels == 3;
        return new ImagePipeline(new IImageTransform[] { ResizeCenterCrop.For(config, size) }, channels, size, size,
            rgb ? config.Mean : DefaultMean(channels), rgb ? config.Std : DefaultStd(channels));
    }

    /// <summary>The training pipeline for a model's <see cref="PretrainedConfig"/>: random-resized crop with its filter,
    /// flip, and its recipe's RandAugment (<paramref name="fallbackRandAugment"/> when the recipe has none), normalised
    /// with its statistics, at <paramref name="resolution"/> (default: its training size).</summary>
    public static ImagePipeline TrainForModel(PretrainedConfig config, int? resolution = null, ChannelPolicy? channels = null,
        RandAugmentSetting? fallbackRandAugment = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        channels ??= ChannelPolicy.Rgb;
        var rgb = channels.Channels == 3;
        return Train(resolution ?? config.InputSize, config.RandAugment ?? fallbackRandAugment, channels,
            rgb ? config.Mean : null, rgb ? config.Std : null, ResizeCenterCrop.InterpolationOf(config));
    }

    /// <summary>Grey images padded by <paramref name="pad"/> black pixels a side and normalised with
    /// <paramref name="mean"/>/<paramref name="std"/>: what <see cref="Data.FashionMnist.Load"/> does to the IDX files, for
    /// an image folder of 28 px Fashion-MNIST.</summary>
    public static ImagePipeline PaddedGrey(int size, int pad, double mean, double std) =>
        new(pad > 0 ? new IImageTransform[] { new PadImage(pad) } : Array.Empty<IImageTransform>(), ChannelPolicy.Grey,
            size + 2 * pad, size + 2 * pad, new[] { mean }, new[] { std });

    private static double[] DefaultMean(ChannelPolicy c) => c.Channels == 3 ? new[] { 0.485, 0.456, 0.406 } : new[] { 0.5 };
    private static double[] DefaultStd(ChannelPolicy c) => c.Channels == 3 ? new[] { 0.229, 0.224, 0.225 } : new[] { 0.5 };

    /// <summary>Transforms a decoded image with <paramref name="random"/>'s draws.</summary>
    public DecodedImage Transform(DecodedImage image, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        foreach (var t in Transforms) image = t.Apply(image, random);
        return image;
    }

    /// <summary>Decodes the file, transforms it and writes the normalised CHW floats into <paramref name="destination"/>.</summary>
    /// <exception cref="ImageDecodeException">The file cannot be decoded, or the transforms do not end at the output size.</exception>
    public void Load(string path, Random random, Span<float> destination)
    {
        var image = Transform(ImageDecoder.Decode(path, Policy), random);
        if (image.Width != Width || image.Height != Height)
            throw new ImageDecodeException(path, $"is {image.Width}x{image.Height} after the transforms, but the pipeline outputs {Width}x{Height} " +
                "(add a crop or resize, e.g. ImagePipeline.Eval, for images of other sizes)");
        WriteNormalized(image, destination);
    }

    /// <summary>Normalises an image of the output size into CHW floats.</summary>
    public void WriteNormalized(DecodedImage image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < SampleLength) throw new ArgumentException($"need {SampleLength} floats, got {destination.Length}", nameof(destination));
        var plane = Width * Height;
        var p = image.Pixels;
        for (var c = 0; c < Channels; c++)
        {
            float scale = _scale[c], offset = _offset[c];
            var target = destination.Slice(c * plane, plane);
            for (var i = 0; i < plane; i++) target[i] = p[4 * i + c] * scale + offset;
        }
    }
}
