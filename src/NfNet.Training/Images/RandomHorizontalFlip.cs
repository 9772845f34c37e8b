namespace NfNet.Training.Images;

/// <summary>Mirrors the image left–right with probability <see cref="Probability"/> (0.5 in the recipe).</summary>
public sealed class RandomHorizontalFlip(double probability = 0.5) : IImageTransform
{
    /// <summary>Chance of a flip.</summary>
    public double Probability { get; } = probability is >= 0 and <= 1 ? probability : throw new ArgumentOutOfRangeException(nameof(probability));

    /// <inheritdoc />
    public DecodedImage Apply(DecodedImage image, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(random);
        return random.NextDouble() < Probability ? Mirror(image) : image;
    }

    /// <summary>The mirror image.</summary>
    public static DecodedImage Mirror(DecodedImage image)
    {
        var result = new byte[image.Pixels.Length];
        var row = 4 * image.Width;
        for (var y = 0; y < image.Height; y++)
            for (var x = 0; x < image.Width; x++)
                Buffer.BlockCopy(image.Pixels, y * row + 4 * x, result, y * row + 4 * (image.Width - 1 - x), 4);
        return new DecodedImage(image.Width, image.Height, result);
    }
}
