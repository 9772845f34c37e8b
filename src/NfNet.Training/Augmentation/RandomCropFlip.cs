using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Augmentation;

/// <summary>
/// Random crop with zero padding (pad by <see cref="Padding"/> pixels with <see cref="FillValue"/>, crop back to the
/// original size at a uniformly random offset per image) and horizontal flip with probability 0.5, on a batch.
/// Deterministic for a given <see cref="Random"/>.
/// </summary>
public sealed class RandomCropFlip(int padding = 2, double fillValue = 0, bool flip = true)
{
    /// <summary>Pixels of padding per side.</summary>
    public int Padding { get; } = padding >= 0 ? padding : throw new ArgumentOutOfRangeException(nameof(padding));
    /// <summary>Value of the padding (the normalized background).</summary>
    public double FillValue { get; } = fillValue;
    /// <summary>Whether to flip horizontally.</summary>
    public bool Flip { get; } = flip;

    /// <summary>Augments <paramref name="images"/> [B, C, H, W]; the result lives in the caller's dispose scope.</summary>
    public Tensor Apply(Tensor images, Random random)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(random);
        using var scope = NewDisposeScope();
        long b = images.size(0), h = images.size(2), w = images.size(3);
        var x = images;
        if (Padding > 0)
        {
            var padded = nn.functional.pad(images, new long[] { Padding, Padding, Padding, Padding }, value: FillValue);
            var span = 2 * Padding + 1;
            // Group the images by offset: at most (2p+1)² narrow+index_copy ops a batch instead of one per image.
            var groups = new Dictionary<int, List<long>>();
            for (long i = 0; i < b; i++)
            {
                var key = random.Next(span) * span + random.Next(span);
                if (!groups.TryGetValue(key, out var list)) groups[key] = list = new List<long>();
                list.Add(i);
            }
            x = empty_like(images);
            foreach (var (key, list) in groups)
            {
                var index = tensor(list.ToArray());
                var crop = padded.index_select(0, index).narrow(2, key / span, h).narrow(3, key % span, w);
                x.index_copy_(0, index, crop);
            }
        }
        if (Flip)
        {
            var mask = tensor(Enumerable.Range(0, (int)b).Select(_ => random.NextDouble() < 0.5).ToArray()).reshape(b, 1, 1, 1);
            x = where(mask, x.flip(3), x);
        }
        return (ReferenceEquals(x, images) ? x.alias() : x).MoveToOuterDisposeScope();
    }
}
