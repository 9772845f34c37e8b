using System.Diagnostics;
using System.Threading.Channels;
using NfNet.Models;
using NfNet.Training.Checkpoints;
using NfNet.Training.Images;

namespace NfNet.Training.Prediction;

/// <summary>
/// Predictions for a service: images in (bytes, streams or files), the model's own evaluation transform, the top-k
/// classes with their labels out. Safe to share across threads: each caller decodes and transforms its own image on
/// its own thread, and one worker thread scores the waiting images together, up to
/// <see cref="ImagePredictorOptions.MaxBatch"/> after at most <see cref="ImagePredictorOptions.MaxWait"/>
/// (micro-batching), so concurrent callers share forward passes.
/// </summary>
/// <remarks>A bad image fails its own request only (with <see cref="ImageDecodeException"/>); a failing forward pass fails
/// the requests of its batch. Weights may be loaded into the model while it serves (through
/// <see cref="Weights.ModelWeights"/>, as every loader of the library does): each batch sees one set of weights.
/// Disposing the predictor scores what is already queued, then releases the model if it owns it.</remarks>
public sealed class ImagePredictor : IDisposable
{
    private readonly IImageScorer _scorer;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _worker;
    private int _disposed;

    private sealed record Request(float[] Sample, TaskCompletionSource<Prediction> Done, CancellationToken Cancellation);

    /// <summary>A predictor over <paramref name="scorer"/>, which it owns from now on.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="ArgumentException">The labels do not match the class count.</exception>
    public ImagePredictor(IImageScorer scorer, ImagePredictorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        Options = options ?? new ImagePredictorOptions();
        Options.Check();
        if (Options.Labels is { } labels && labels.Count != scorer.NumClasses)
            throw new ArgumentException($"{labels.Count} labels for a model of {scorer.NumClasses} classes", nameof(options));
        _scorer = scorer;
        _worker = new Thread(Serve) { IsBackground = true, Name = "NfNet.NET predictor" };
        _worker.Start();
    }

    /// <summary>A predictor for <paramref name="model"/>: frozen for inference (<see cref="ImageClassifier.OptimizeForInference"/>),
    /// with its published configuration's evaluation transform at <paramref name="resolution"/> (default: its test size).</summary>
    /// <param name="model">The model; disposed with the predictor when <paramref name="ownsModel"/>.</param>
    /// <param name="options">Batching, top-k and labels.</param>
    /// <param name="ownsModel">Dispose the model with the predictor.</param>
    /// <param name="resolution">The evaluation size in pixels.</param>
    public static ImagePredictor ForModel(ImageClassifier model, ImagePredictorOptions? options = null, bool ownsModel = false, int? resolution = null) =>
        new(new ModelScorer(model, ownsModel, resolution, options?.Precision ?? Devices.PrecisionMode.Auto), options);

    /// <summary>A predictor for the model a checkpoint rebuilds (<see cref="TrainingCheckpoint.LoadModel"/>), its EMA
    /// weights where it has them.</summary>
    /// <exception cref="CheckpointFormatException">The checkpoint is damaged or cannot rebuild its model.</exception>
    public static ImagePredictor FromCheckpoint(string path, ImagePredictorOptions? options = null)
    {
        var model = TrainingCheckpoint.LoadModel(path, preferEma: true);
        try { return ForModel(model, options, ownsModel: true); }
        catch { model.Dispose(); throw; }
    }

    /// <summary>A predictor for a registry model with its published weights (from the Hugging Face cache, downloaded once
    /// where allowed): <c>FromPretrained("dm_nfnet_f0")</c>.</summary>
    public static ImagePredictor FromPretrained(string name, ImagePredictorOptions? options = null)
    {
        var model = ModelRegistry.Create(name, pretrained: true);
        try { return ForModel(model, options, ownsModel: true); }
        catch { model.Dispose(); throw; }
    }

    /// <summary>The batching, top-k and labels in use.</summary>
    public ImagePredictorOptions Options { get; }

    /// <summary>Forward passes run so far, and the images they scored (their ratio is the mean batch).</summary>
    public (long Batches, long Images) Counts => (Interlocked.Read(ref _batches), Interlocked.Read(ref _images));
    private long _batches, _images;

    /// <summary>The prediction for an encoded image (JPEG, PNG, WebP, BMP).</summary>
    /// <param name="encoded">The image file's bytes.</param>
    /// <param name="name">The image's name in error messages.</param>
    /// <param name="cancellation">Cancels the wait (an image already being scored is scored).</param>
    /// <exception cref="ImageDecodeException">The bytes are not a whole image.</exception>
    /// <exception cref="ObjectDisposedException">The predictor is disposed.</exception>
    public Task<Prediction> PredictAsync(ReadOnlyMemory<byte> encoded, string? name = null, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var sample = new float[_scorer.SampleLength];
        try { _scorer.Preprocess(encoded.Span, name ?? "image", sample); }
        catch (Exception e) { return Task.FromException<Prediction>(e); }
        var done = new TaskCompletionSource<Prediction>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Request(sample, done, cancellation))) throw new ObjectDisposedException(nameof(ImagePredictor));
        return cancellation.CanBeCanceled ? done.Task.WaitAsync(cancellation) : done.Task;
    }

    /// <summary>The prediction for an image read from <paramref name="stream"/> (at most 256 MiB).</summary>
    /// <exception cref="ImageDecodeException">The stream is too long or not a whole image.</exception>
    public async Task<Prediction> PredictAsync(Stream stream, string? name = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        int n;
        while ((n = await stream.ReadAsync(chunk, cancellation).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > NfNet.IO.ImageFileReader.DefaultMaxBytes)
                throw new ImageDecodeException(name ?? "image", $"more than the {NfNet.IO.ImageFileReader.DefaultMaxBytes:N0} bytes an image may have");
            buffer.Write(chunk, 0, n);
        }
        return await PredictAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), name, cancellation).ConfigureAwait(false);
    }

    /// <summary>The prediction for the image file at <paramref name="path"/> (a regular file of at most 256 MiB).</summary>
    /// <exception cref="ImageDecodeException">The file is missing, not a regular file, too large or not a whole image.</exception>
    public Task<Prediction> PredictFileAsync(string path, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try { bytes = NfNet.IO.ImageFileReader.Read(path, NfNet.IO.ImageFileReader.DefaultMaxBytes, reason => new ImageDecodeException(path, reason)); }
        catch (ImageDecodeException e) { return Task.FromException<Prediction>(e); }
        return PredictAsync(bytes, path, cancellation);
    }

    /// <summary>Predictions for many files in order, decoded on <paramref name="parallelism"/> threads (default: one per
    /// core) and scored in batches. The first file that fails (in the given order) is thrown.</summary>
    /// <exception cref="ImageDecodeException">A file is not a whole image; the message names it.</exception>
    public IReadOnlyList<Prediction> PredictFiles(IReadOnlyList<string> paths, int? parallelism = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var tasks = new Task<Prediction>[paths.Count];
        Parallel.For(0, paths.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelism ?? Environment.ProcessorCount },
            i => tasks[i] = PredictFileAsync(paths[i]));
        return tasks.Select(t => t.GetAwaiter().GetResult()).ToArray();
    }

    private void Serve()
    {
        var reader = _queue.Reader;
        var waitTicks = (long)(Options.MaxWait.TotalSeconds * Stopwatch.Frequency);
        var batch = new List<Request>(Options.MaxBatch);
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            var deadline = Stopwatch.GetTimestamp() + waitTicks;
            while (batch.Count < Options.MaxBatch)
            {
                if (reader.TryRead(out var request))
                {
                    if (request.Cancellation.IsCancellationRequested) request.Done.TrySetCanceled(request.Cancellation);
                    else batch.Add(request);
                    continue;
                }
                var left = deadline - Stopwatch.GetTimestamp();
                if (left <= 0 || batch.Count == 0 && waitTicks == 0) break;
                using var timer = new CancellationTokenSource(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
                try
                {
                    if (!reader.WaitToReadAsync(timer.Token).AsTask().GetAwaiter().GetResult()) break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            if (batch.Count > 0) Score(batch);
        }
    }

    private void Score(List<Request> batch)
    {
        try
        {
            var length = _scorer.SampleLength;
            var images = new float[batch.Count * length];
            for (var i = 0; i < batch.Count; i++) batch[i].Sample.CopyTo(images, i * length);
            var logits = _scorer.Logits(images, batch.Count);
            var classes = _scorer.NumClasses;
            if (logits.Length != batch.Count * classes)
                throw new InvalidOperationException($"the scorer returned {logits.Length} logits for {batch.Count} images of {classes} classes");
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _images, batch.Count);
            for (var i = 0; i < batch.Count; i++)
            {
                var row = logits.AsSpan(i * classes, classes).ToArray();
                batch[i].Done.TrySetResult(new Prediction(Top(row), row));
            }
        }
        catch (Exception e)
        {
            foreach (var request in batch) request.Done.TrySetException(e);
        }
    }

    // The k most probable classes by a numerically stable softmax, best first, ties by index.
    private IReadOnlyList<PredictedClass> Top(float[] logits)
    {
        var max = logits.Max();
        var weights = logits.Select(v => Math.Exp(v - max)).ToArray();
        var total = weights.Sum();
        var order = Enumerable.Range(0, logits.Length).ToArray();
        Array.Sort(order, (a, b) => weights[b].CompareTo(weights[a]) is var c and not 0 ? c : a.CompareTo(b));
        return order.Take(Math.Min(Options.TopK, logits.Length))
            .Select(i => new PredictedClass(i, Options.Labels?[i], (float)(weights[i] / total))).ToArray();
    }

    /// <summary>Scores what is queued, stops the worker and disposes the scorer (and with it an owned model).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.Writer.TryComplete();
        _worker.Join();
        _scorer.Dispose();
    }
}
