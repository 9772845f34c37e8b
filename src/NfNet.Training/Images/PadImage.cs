namespace NfNet.Training.Images;

/// <summary>Pads every side by <see cref="Padding"/> pixels of grey value <see cref="Fill"/> (black by default): how the
/// Fashion-MNIST recipe turns 28 px into 32 px, so an image folder of it trains exactly as the IDX files do.</summary>
public sealed class PadImage(int padding, byte fill = 0) : IImageTransform
{
    /// <summary>Pixels added on each side.</summary>
    public int Padding { get; } = padding >= 0 ? padding : throw new ArgumentOutOfRangeException(nameof(padding));
    /// <summary>Value of the new pixels (all three channels).</summary>
    public byte Fill { get; } = fill;

    /// <inheritdoc />
    public DecodedImage Apply(DecodedImage image, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (Padding == 0) return image;
        int w = image.Width + 2 * Padding, h = image.Height + 2 * Padding;
        var result = new byte[4L * w * h];
        for (var i = 0; i < result.Length; i += 4)
        {
            result[i] = result[i + 1] = result[i + 2] = Fill;
            result[i + 3] = 255;
        }
        for (var y = 0; y < image.Height; y++)
            Buffer.BlockCopy(image.Pixels, 4 * y * image.Width, result, 4 * ((y + Padding) * w + Padding), 4 * image.Width);
        return new DecodedImage(w, h, result);
    }
}
