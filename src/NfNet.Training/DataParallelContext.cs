using NfNet.Distributed;
using NfNet.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training;

/// <summary>
/// What data parallelism adds to a trainer, in one place: rank 0's weights on every rank at the start, the gradient
/// average after each backward pass, each rank's part of the data, and the sums that make every rank report the global
/// numbers. With one process every member is the identity.
/// </summary>
internal sealed class DataParallelContext : IDisposable
{
    private readonly ICommunicator _communicator;

    /// <summary>Joins the run of <paramref name="communicator"/> (null: one process). With more than one rank the
    /// structure of <paramref name="model"/> is checked to be the same everywhere (else a clear error on all ranks) and
    /// rank 0's weights are broadcast — before anything (an EMA) copies them.</summary>
    public DataParallelContext(nn.Module model, ICommunicator? communicator)
    {
        _communicator = communicator ?? new SingleProcessCommunicator();
        if (WorldSize > 1)
        {
            DataParallel.BroadcastParameters(model, _communicator);
            Averager = new GradientAverager(model, _communicator) { GradientsPrescaled = true }; // the steps scale the loss by 1/W
        }
    }

    /// <summary>This process's rank.</summary>
    public int Rank => _communicator.Rank;

    /// <summary>Ranks training together.</summary>
    public int WorldSize => _communicator.WorldSize;

    /// <summary>The gradient averager (null in one process).</summary>
    public GradientAverager? Averager { get; }

    /// <summary>Fails on every rank unless all agree on <paramref name="value"/> (a checkpoint's step, say).</summary>
    public void Agree(long value, string what, string shown) => DataParallel.Agree(_communicator, value, what, shown);

    /// <summary>The global batch's mean loss, accuracy and example count from this rank's.</summary>
    public (double Loss, double Accuracy, double Count) GlobalBatch(double loss, double accuracy, double count)
    {
        if (WorldSize == 1) return (loss, accuracy, count);
        var sums = new[] { loss * count, accuracy * count, count };
        _communicator.AllReduceSum(sums);
        return (sums[0] / sums[2], sums[1] / sums[2], sums[2]);
    }

    /// <summary>Adds up the ranks' evaluation sums when <paramref name="data"/> is a part made by <see cref="Shard"/>.</summary>
    public (double Top1, double Top5, double Loss, long Count) GlobalEvaluation(IDataSource data, double top1, double top5, double loss, long count)
    {
        if (data is not ShardedEvaluation) return (top1, top5, loss, count);
        var sums = new[] { top1, top5, loss, count };
        _communicator.AllReduceSum(sums);
        return (sums[0], sums[1], sums[2], (long)sums[3]);
    }

    /// <summary>This rank's part of <paramref name="data"/>: training data padded to equal steps, evaluation data
    /// unpadded (each sample once; the sums are all-reduced). The data itself in one process.</summary>
    /// <exception cref="ArgumentException">The data source cannot be split (it is not an <see cref="IShardableDataSource"/>).</exception>
    public IDataSource Shard(IDataSource data, bool pad, string name)
    {
        if (WorldSize == 1) return data;
        if (data is not IShardableDataSource shardable)
            throw new ArgumentException($"data-parallel training needs a data source each rank can read its part of ({nameof(IShardableDataSource)}: " +
                $"{nameof(TensorDataSource)}, Images.ImageDataSource); {data.GetType().Name} is not one", name);
        var shard = shardable.WithShard(new DataShard(Rank, WorldSize) { Pad = pad });
        return pad ? shard : new ShardedEvaluation(shard);
    }

    /// <inheritdoc />
    public void Dispose() => Averager?.Dispose();

    private sealed class ShardedEvaluation(IDataSource inner) : IDataSource
    {
        public long Count => inner.Count;
        public long SkippedSamples => inner.SkippedSamples;
        public IEnumerable<(Tensor Images, Tensor Labels)> Batches(int batchSize, bool shuffle, int seed = 0, bool dropLast = false) =>
            inner.Batches(batchSize, shuffle, seed, dropLast);
    }
}
