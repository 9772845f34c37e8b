namespace NfNet.Training.Data;

/// <summary>An IDX file (MNIST format) is corrupt, truncated or not the kind expected.</summary>
public sealed class IdxFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public IdxFormatException(string path, string problem) : base($"IDX file '{path}': {problem}") => FilePath = path;

    /// <summary>The file.</summary>
    public string FilePath { get; }
}
