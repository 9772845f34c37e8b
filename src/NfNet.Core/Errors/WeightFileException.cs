namespace NfNet;

/// <summary>
/// A weight file is corrupt, truncated, or not in the format it claims to be (for example a safetensors header
/// whose offsets run past the end of the file). Nothing has been loaded into any model when this is thrown.
/// </summary>
public sealed class WeightFileException : IOException
{
    /// <summary>The file, when known.</summary>
    public string? FilePath { get; }

    /// <summary>Creates the exception; the message names the problem and, when known, the tensor.</summary>
    public WeightFileException(string message, string? filePath = null, Exception? inner = null)
        : base(filePath is null ? message : $"{filePath}: {message}", inner)
    {
        FilePath = filePath;
    }
}
