namespace NfNet.Training.Data;

/// <summary>A data source that may skip unreadable samples instead of failing (see
/// <see cref="Images.ImageLoaderOptions.SkipUnreadable"/>); the trainer shows the count in its progress and epoch metrics.</summary>
public interface ISkippedSampleCounter
{
    /// <summary>Samples skipped since the source was created (all passes).</summary>
    long SkippedSamples { get; }
}
