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
        var result = (byte[])image.Pixels.Clone();
        // One RGBA pixel is one 32-bit value: reversing each row of them mirrors the image.
        var pixels = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(result.AsSpan());
        for (var y = 0; y < image.Height; y++) pixels.Slice(y * image.Width, image.Width).Reverse();
        return new DecodedImage(image.Width, image.Height, result);
    }
}
