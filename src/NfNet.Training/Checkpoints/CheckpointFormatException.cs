namespace NfNet.Training.Checkpoints;

/// <summary>
/// A checkpoint file is damaged, truncated, foreign, from a future format, or does not fit the model and optimizer it
/// is loaded into. The message names the file, the section and what was expected and found. Nothing was loaded: the
/// model, optimizer and EMA are as they were.
/// </summary>
public sealed class CheckpointFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public CheckpointFormatException(string path, string section, string problem, Exception? inner = null)
        : base($"checkpoint '{path}', {section}: {problem}", inner)
    {
        FilePath = path;
        Section = section;
    }

    /// <summary>The checkpoint file.</summary>
    public string FilePath { get; }

    /// <summary>The part of the file that is wrong: <c>file</c>, <c>header</c>, <c>checksum</c>, <c>model</c>,
    /// <c>optimizer</c>, <c>ema</c> or <c>counters</c>.</summary>
    public string Section { get; }
}
