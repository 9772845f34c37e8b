using System.Collections.Concurrent;
using NfNet.Training.Data;
using static TorchSharp.torch;

namespace NfNet.Training.Images;

/// <summary>
/// The loader: feeds the trainer batches from an <see cref="IImageDataset"/> through an <see cref="ImagePipeline"/>,
/// decoding and augmenting on <see cref="ImageLoaderOptions.Workers"/> threads that fill a bounded read-ahead of
/// <see cref="ImageLoaderOptions.PrefetchBatches"/> batches, so the model is not kept waiting and memory stays flat
/// over an epoch. Batches come out in order; each sample's random draws come from (epoch seed, sample index), so a run
/// is the same whatever the number of workers. With a <see cref="DataShard"/> each rank reads its part.
/// </summary>
/// <remarks>
/// Worker threads only decode and compute on byte and float arrays (SkiaSharp and managed code); the tensors are made on
/// the consuming thread, so libtorch's own thread pool is left to the training step. A failure on a worker (a bad file,
/// without <see cref="ImageLoaderOptions.SkipUnreadable"/>) surfaces on the consumer as its typed exception when that
/// batch is due; leaving the enumeration early (break, exception, cancellation) stops and joins the workers.
/// </remarks>
public sealed class ImageDataSource : IShardableDataSource
{
    private readonly ConcurrentDictionary<string, byte> _skippedFiles = new();
    private readonly ConcurrentQueue<string> _skippedOrder = new();
    private long _skipped;
    private int _activeWorkers;

    /// <summary>A loader over <paramref name="dataset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Workers or read-ahead out of range, or an invalid shard.</exception>
    public ImageDataSource(IImageDataset dataset, ImagePipeline pipeline, ImageLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(pipeline);
        options ??= new ImageLoaderOptions();
        if (options.Workers < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Workers, "Workers must be >= 0");
        if (options.PrefetchBatches < 1) throw new ArgumentOutOfRangeException(nameof(options), options.PrefetchBatches, "PrefetchBatches must be >= 1");
        options.Shard.Validate();
        (Dataset, Pipeline, Options) = (dataset, pipeline, options);
    }

    /// <summary>The files and labels.</summary>
    public IImageDataset Dataset { get; }
    /// <summary>Decode and transforms.</summary>
    public ImagePipeline Pipeline { get; }
    /// <summary>Loading options.</summary>
    public ImageLoaderOptions Options { get; }

    /// <summary>Samples this rank reads per pass (the whole set without sharding).</summary>
    public long Count => Options.Shard.CountFor(Dataset.Samples.Count);

    /// <summary>A loader of the same files and pipeline for <paramref name="shard"/>'s part (its own skip count).</summary>
    public IDataSource WithShard(DataShard shard) => new ImageDataSource(Dataset, Pipeline, Options with { Shard = shard.Validate() });

    /// <inheritdoc />
    public long SkippedSamples => Interlocked.Read(ref _skipped);

    /// <summary>Loader threads running now (0 when no enumeration is in progress: leaving one early joins its threads).</summary>
    public int ActiveWorkers => Volatile.Read(ref _activeWorkers);

    /// <summary>The first files skipped (up to 100), each once however many epochs skipped it, for reports.</summary>
    public IReadOnlyCollection<string> SkippedFiles => _skippedOrder;

    /// <inheritdoc />
    /// <exception cref="ImageDecodeException">A file cannot be decoded (without <see cref="ImageLoaderOptions.SkipUnreadable"/>),
    /// or every file of a batch was skipped.</exception>
    /// <exception cref="OperationCanceledException"><see cref="ImageLoaderOptions.Cancellation"/> was signalled.</exception>
    public IEnumerable<(Tensor Images, Tensor Labels)> Batches(int batchSize, bool shuffle, int seed = 0, bool dropLast = false)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        var order = Options.Shard.Indices(Dataset.Samples.Count, shuffle, seed);
        var batches = dropLast ? order.Length / batchSize : (order.Length + batchSize - 1) / batchSize;
        return Options.Workers == 0 ? Inline(order, batches, batchSize, seed) : Parallel(order, batches, batchSize, seed);
    }

    private IEnumerable<(Tensor, Tensor)> Inline(int[] order, int batches, int batchSize, int seed)
    {
        for (var k = 0; k < batches; k++)
        {
            Options.Cancellation.ThrowIfCancellationRequested();
            yield return ToTensors(Prepare(order, k, batchSize, seed));
        }
    }

    private IEnumerable<(Tensor, Tensor)> Parallel(int[] order, int batches, int batchSize, int seed)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Options.Cancellation);
        var slots = new TaskCompletionSource<PreparedBatch>[batches];
        for (var k = 0; k < batches; k++) slots[k] = new TaskCompletionSource<PreparedBatch>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var readAhead = new SemaphoreSlim(Options.PrefetchBatches);
        var next = -1;
        var workers = new Thread[Math.Min(Options.Workers, Math.Max(1, batches))];
        for (var w = 0; w < workers.Length; w++)
        {
            Interlocked.Increment(ref _activeWorkers);
            workers[w] = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        readAhead.Wait(stop.Token);
                        var k = Interlocked.Increment(ref next);
                        if (k >= batches) return;
                        try { slots[k].SetResult(Prepare(order, k, batchSize, seed)); }
                        catch (Exception e) { slots[k].SetException(e); }
                    }
                }
                catch (OperationCanceledException) { }
                finally { Interlocked.Decrement(ref _activeWorkers); }
            })
            { IsBackground = true, Name = $"NfNet image loader {w}" };
            workers[w].Start();
        }
        try
        {
            for (var k = 0; k < batches; k++)
            {
                var batch = slots[k].Task.WaitAsync(stop.Token).GetAwaiter().GetResult();
                slots[k] = null!; // let the floats go once they are tensors
                readAhead.Release();
                yield return ToTensors(batch);
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var worker in workers) worker.Join();
        }
    }

    private sealed record PreparedBatch(float[] Images, long[] Labels, int Count);

    private PreparedBatch Prepare(int[] order, int k, int batchSize, int seed)
    {
        var start = k * batchSize;
        var n = Math.Min(batchSize, order.Length - start);
        var length = Pipeline.SampleLength;
        var images = new float[n * length];
        var labels = new long[n];
        var kept = 0;
        ImageDecodeException? lastError = null;
        for (var j = 0; j < n; j++)
        {
            var index = order[start + j];
            var sample = Dataset.Samples[index];
            var random = new Random(DeterministicSeed.Combine(seed, index));
            try
            {
                Pipeline.Load(sample.Path, random, images.AsSpan(kept * length, length));
            }
            catch (ImageDecodeException e) when (Options.SkipUnreadable)
            {
                lastError = e;
                Interlocked.Increment(ref _skipped);
                // Each file once, however many epochs skip it (the first 100).
                var entry = $"{e.FilePath}: {e.Problem}";
                if (_skippedFiles.Count < 100 && _skippedFiles.TryAdd(entry, 0)) _skippedOrder.Enqueue(entry);
                continue;
            }
            labels[kept++] = sample.Label;
        }
        if (kept == 0)
            throw new ImageDecodeException(lastError!.FilePath, $"every image of a batch was unreadable, the last: {lastError.Problem}");
        return new PreparedBatch(images, labels, kept);
    }

    private (Tensor, Tensor) ToTensors(PreparedBatch batch)
    {
        var images = batch.Count * Pipeline.SampleLength == batch.Images.Length ? batch.Images : batch.Images[..(batch.Count * Pipeline.SampleLength)];
        var labels = batch.Count == batch.Labels.Length ? batch.Labels : batch.Labels[..batch.Count];
        return (tensor(images, new long[] { batch.Count, Pipeline.Channels, Pipeline.Height, Pipeline.Width }), tensor(labels));
    }
}
