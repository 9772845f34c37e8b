using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Data;

/// <summary>
/// Feeds any TorchSharp map-style <see cref="torch.utils.data.Dataset"/> (each item a dictionary of tensors) to the
/// <see cref="Trainer"/>: items are read in the (seeded) order and stacked into batches, images from
/// <see cref="ImageKey"/> ([C, H, W] float) and labels from <see cref="LabelKey"/> (an int64 scalar or one-element tensor).
/// </summary>
public sealed class TorchDatasetSource(torch.utils.data.Dataset dataset, string imageKey = "data", string labelKey = "label") : IDataSource
{
    /// <summary>The wrapped dataset.</summary>
    public torch.utils.data.Dataset Dataset { get; } = dataset ?? throw new ArgumentNullException(nameof(dataset));
    /// <summary>Dictionary key of the image.</summary>
    public string ImageKey { get; } = imageKey;
    /// <summary>Dictionary key of the label.</summary>
    public string LabelKey { get; } = labelKey;

    /// <inheritdoc />
    public long Count => Dataset.Count;

    /// <inheritdoc />
    /// <exception cref="KeyNotFoundException">An item lacks <see cref="ImageKey"/> or <see cref="LabelKey"/>.</exception>
    public IEnumerable<(Tensor Images, Tensor Labels)> Batches(int batchSize, bool shuffle, int seed = 0, bool dropLast = false)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        var order = DataShard.Single.Indices(Count, shuffle, seed);
        for (var start = 0; start < order.Length; start += batchSize)
        {
            var size = Math.Min(batchSize, order.Length - start);
            if (size < batchSize && dropLast) yield break;
            using var scope = NewDisposeScope();
            var images = new Tensor[size];
            var labels = new Tensor[size];
            for (var j = 0; j < size; j++)
            {
                var item = Dataset.GetTensor(order[start + j]);
                images[j] = item.TryGetValue(ImageKey, out var x) ? x : throw new KeyNotFoundException($"dataset item {order[start + j]} has no '{ImageKey}' tensor (keys: {string.Join(", ", item.Keys)})");
                labels[j] = item.TryGetValue(LabelKey, out var y) ? y.reshape(1) : throw new KeyNotFoundException($"dataset item {order[start + j]} has no '{LabelKey}' tensor (keys: {string.Join(", ", item.Keys)})");
            }
            var batch = (stack(images).to(ScalarType.Float32).MoveToOuterDisposeScope(), cat(labels).to(ScalarType.Int64).MoveToOuterDisposeScope());
            yield return batch;
        }
    }
}
