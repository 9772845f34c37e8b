namespace NfNet.Training.Images;

/// <summary>
/// One step of an image pipeline on a decoded 8-bit image. Random transforms draw only from the <see cref="Random"/> they
/// are given (the loader seeds it from the run seed, epoch and sample index), so results do not depend on threads.
/// Implementations are stateless and may be called from several threads at once.
/// </summary>
public interface IImageTransform
{
    /// <summary>The transformed image (a new one, or <paramref name="image"/> itself when nothing changes).</summary>
    DecodedImage Apply(DecodedImage image, Random random);
}
