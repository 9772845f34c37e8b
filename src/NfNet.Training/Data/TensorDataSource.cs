using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Data;

/// <summary>An in-memory dataset: images [N, C, H, W] and int64 labels [N], owned by this source.</summary>
public sealed class TensorDataSource : IShardableDataSource, IDisposable
{
    /// <summary>Takes ownership of <paramref name="images"/> and <paramref name="labels"/>.</summary>
    /// <exception cref="ArgumentException">Shapes or dtypes are wrong or the counts differ.</exception>
    public TensorDataSource(Tensor images, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.dim() != 4) throw new ArgumentException($"images must be [N, C, H, W], got [{string.Join(", ", Shapes.Of(images))}]", nameof(images));
        if (labels.dim() != 1 || labels.dtype != ScalarType.Int64) throw new ArgumentException("labels must be a 1-D int64 tensor", nameof(labels));
        if (images.size(0) != labels.size(0)) throw new ArgumentException($"{images.size(0)} images but {labels.size(0)} labels", nameof(labels));
        Images = images.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
    }

    /// <summary>All images.</summary>
    public Tensor Images { get; }
    /// <summary>All labels.</summary>
    public Tensor Labels { get; }
    /// <inheritdoc />
    public long Count => Labels.size(0);

    /// <summary>A view of the same tensors (not copied; disposing the view does nothing) yielding <paramref name="shard"/>'s part.</summary>
    public IDataSource WithShard(DataShard shard) => new ShardView(this, shard.Validate());

    private sealed class ShardView(TensorDataSource all, DataShard shard) : IDataSource
    {
        public long Count => shard.CountFor(all.Count);

        public IEnumerable<(Tensor Images, Tensor Labels)> Batches(int batchSize, bool shuffle, int seed = 0, bool dropLast = false) =>
            all.Batches(shard.Indices(all.Count, shuffle, seed), batchSize, dropLast);
    }

    /// <summary>The first <paramref name="count"/> examples (copies) as a new source.</summary>
    public TensorDataSource Take(long count)
    {
        using var images = Images.narrow(0, 0, Math.Min(count, Count));
        using var labels = Labels.narrow(0, 0, Math.Min(count, Count));
        return new(images.clone(), labels.clone());
    }

    /// <inheritdoc />
    public IEnumerable<(Tensor Images, Tensor Labels)> Batches(int batchSize, bool shuffle, int seed = 0, bool dropLast = false) =>
        Batches(DataShard.Single.Indices(Count, shuffle, seed), batchSize, dropLast);

    private IEnumerable<(Tensor Images, Tensor Labels)> Batches(int[] order, int batchSize, bool dropLast)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        for (var start = 0; start < order.Length; start += batchSize)
        {
            var size = Math.Min(batchSize, order.Length - start);
            if (size < batchSize && dropLast) yield break;
            using var index = tensor(order.AsSpan(start, size).ToArray().Select(i => (long)i).ToArray());
            yield return (Images.index_select(0, index), Labels.index_select(0, index));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
