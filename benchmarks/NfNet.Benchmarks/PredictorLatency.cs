using System.Diagnostics;
using NfNet.Models;
using NfNet.Training.Prediction;
using SkiaSharp;

namespace NfNet.Benchmarks;

/// <summary>
/// <c>--predictor</c>: the in-process predictor as a service sees it — images/s and p50/p99 latency of one request at 1,
/// 4 and 16 concurrent callers, each sending JPEGs of the ImageNet median size (500 × 375) one after another. A stopwatch
/// table, not BenchmarkDotNet: what is measured is the queue and the batching across callers.
/// <c>NFNET_BENCH_PREDICTOR_MODEL</c> (default dm_nfnet_f0), <c>NFNET_BENCH_PREDICTOR_RES</c> (default 192),
/// <c>NFNET_BENCH_PREDICTOR_REQUESTS</c> (per level, default 48), <c>NFNET_BENCH_PREDICTOR_BATCH</c> (default 16).
/// </summary>
internal static class PredictorLatency
{
    public static void Run()
    {
        var name = Environment.GetEnvironmentVariable("NFNET_BENCH_PREDICTOR_MODEL") ?? "dm_nfnet_f0";
        var resolution = Number("NFNET_BENCH_PREDICTOR_RES", 192);
        var requests = Number("NFNET_BENCH_PREDICTOR_REQUESTS", 48);
        var maxBatch = Number("NFNET_BENCH_PREDICTOR_BATCH", 16);
        var images = Enumerable.Range(0, 16).Select(Photo).ToArray();
        using var model = ModelRegistry.Create(name);
        using var predictor = ImagePredictor.ForModel(model, new ImagePredictorOptions { MaxBatch = maxBatch }, resolution: resolution);
        predictor.PredictAsync(images[0]).GetAwaiter().GetResult(); // the first forward builds the weight caches
        Console.WriteLine($"predictor: {name} at {resolution} px, batches of up to {maxBatch}, {requests} requests a level; {Environment.ProcessorCount} cores");
        Console.WriteLine("| callers | images/s | p50 ms | p99 ms | mean batch |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (var callers in new[] { 1, 4, 16 })
        {
            var (batches0, images0) = predictor.Counts;
            var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
            var clock = Stopwatch.StartNew();
            var next = -1;
            var tasks = Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < requests)
                {
                    var start = Stopwatch.GetTimestamp();
                    await predictor.PredictAsync(images[i % images.Length]);
                    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            })).ToArray();
            Task.WaitAll(tasks);
            var seconds = clock.Elapsed.TotalSeconds;
            var sorted = latencies.Order().ToArray();
            var (batches, scored) = predictor.Counts;
            Console.WriteLine($"| {callers} | {requests / seconds:F1} | {Percentile(sorted, 0.50):F0} | {Percentile(sorted, 0.99):F0} | " +
                              $"{(double)(scored - images0) / (batches - batches0):F1} |");
        }
    }

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static int Number(string variable, int fallback) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    // A 500 × 375 JPEG (quality 90) of gradients and shapes, so the decoder works as on a photo.
    private static byte[] Photo(int seed)
    {
        var random = new Random(seed);
        using var surface = SKSurface.Create(new SKImageInfo(500, 375, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var canvas = surface.Canvas;
        using var paint = new SKPaint { IsAntialias = true };
        canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        for (var s = 0; s < 40; s++)
        {
            paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256), (byte)(64 + random.Next(192)));
            canvas.DrawCircle(random.Next(500), random.Next(375), 8 + random.Next(80), paint);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }
}
