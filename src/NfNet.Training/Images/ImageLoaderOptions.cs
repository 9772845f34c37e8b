using NfNet.Training.Data;

namespace NfNet.Training.Images;

/// <summary>How an <see cref="ImageDataSource"/> loads: threads, read-ahead, bad files, sharding, cancellation.</summary>
public sealed record ImageLoaderOptions
{
    /// <summary>Decoding/augmentation threads (0: decode on the consuming thread, for debugging). Default 2.</summary>
    public int Workers { get; init; } = 2;
    /// <summary>Batches decoded ahead of the consumer, at most (bounds memory: about this many batches of floats, plus
    /// one per worker in progress). Default 4.</summary>
    public int PrefetchBatches { get; init; } = 4;
    /// <summary>Skip files that cannot be decoded (counted in <see cref="ImageDataSource.SkippedSamples"/>, the batch is
    /// one image shorter) instead of raising <see cref="ImageDecodeException"/>. Default false.</summary>
    public bool SkipUnreadable { get; init; }
    /// <summary>This process's part of the data (data-parallel training); default the whole set.</summary>
    public DataShard Shard { get; init; } = DataShard.Single;
    /// <summary>Stops loading: the batch enumeration throws <see cref="OperationCanceledException"/> and its threads end.</summary>
    public CancellationToken Cancellation { get; init; }
}
