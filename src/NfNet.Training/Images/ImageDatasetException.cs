namespace NfNet.Training.Images;

/// <summary>
/// A data set cannot be used as given (raised while indexing, before training starts): an empty class folder, a
/// folder with no images, a list file naming a missing file or a label outside the class range.
/// <see cref="Location"/> names the folder, list file (with line) or image concerned.
/// </summary>
public sealed class ImageDatasetException : Exception
{
    /// <summary>Creates the exception for <paramref name="location"/>.</summary>
    public ImageDatasetException(string location, string problem)
        : base($"{location}: {problem}") { Location = location; Problem = problem; }

    /// <summary>The folder, file or <c>file:line</c> concerned.</summary>
    public string Location { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }
}
