using static TorchSharp.torch;

namespace NfNet.Training.Data;

/// <summary>A labelled image dataset that yields batches as tensors.</summary>
public interface IDataSource
{
    /// <summary>Number of examples.</summary>
    long Count { get; }

    /// <summary>
    /// The batches of one pass: images [B, C, H, W] (float32, normalized) and labels [B] (int64), created in the
    /// caller's dispose scope. With <paramref name="shuffle"/> the order is a permutation drawn from
    /// <paramref name="seed"/> (the same seed gives the same order).
    /// </summary>
    IEnumerable<(Tensor Images, Tensor Labels)> Batches(int batchSize, bool shuffle, int seed = 0, bool dropLast = false);

    /// <summary>Samples skipped since the source was created (all passes): unreadable files a source was told to skip
    /// (<see cref="Images.ImageLoaderOptions.SkipUnreadable"/>); 0 for sources that never skip. The trainer shows the
    /// count in its progress and epoch metrics.</summary>
    long SkippedSamples => 0;
}
