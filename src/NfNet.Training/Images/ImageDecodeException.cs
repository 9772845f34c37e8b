namespace NfNet.Training.Images;

/// <summary>
/// An image file cannot be decoded: empty, truncated, damaged, not an image at all (whatever its extension), or in a
/// format the loader does not read. Names the file and the problem. The loader raises it by default; with
/// <see cref="ImageLoaderOptions.SkipUnreadable"/> it counts the file as skipped instead and goes on.
/// </summary>
public sealed class ImageDecodeException : IOException
{
    /// <summary>Creates the exception for the image at <paramref name="path"/>.</summary>
    public ImageDecodeException(string path, string problem)
        : base($"cannot read image '{path}': {problem}") { FilePath = path; Problem = problem; }

    /// <summary>The image file.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the path.</summary>
    public string Problem { get; }
}
