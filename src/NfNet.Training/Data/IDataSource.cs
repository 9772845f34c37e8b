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
}
