using BenchmarkDotNet.Attributes;
using NfNet.Models;
using NfNet.Training.Images;
using SkiaSharp;

namespace NfNet.Benchmarks;

/// <summary>
/// The image pipeline alone (no model): one pass of the loader over 1,024 RGB JPEG files of 64 px — decode, random-resized
/// crop to <see cref="Size"/>, flip, RandAugment (2 ops, magnitude 9), normalise, batches of 256 — with 1, 2 and 4
/// worker threads. The per-operation time is per image, so images/s = 1 / mean. The same work as PyTorch 2.6 +
/// torchvision 0.21 (ImageFolder + DataLoader, one thread per worker) that the image-data issue compares with. The
/// native memory high-water mark is printed after the run.
/// </summary>
public class ImageLoaderBenchmark
{
    private const int Images = 1024;
    private string _root = "";
    private ImageDataSource _source = null!;

    /// <summary>Output side in pixels.</summary>
    [Params(64, 224)]
    public int Size { get; set; }

    /// <summary>Decoding threads.</summary>
    [Params(1, 2, 4)]
    public int Workers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _root = Path.Combine(Path.GetTempPath(), $"nfnet-bench-images-{Environment.ProcessId}");
        WriteImages(_root, Images);
        var set = new ImageFolderDataset(_root);
        // torchvision's RandomResizedCrop default (bilinear), as in the PyTorch measurement.
        var pipeline = ImagePipeline.Train(Size, new RandAugmentSetting(2, 9), interpolation: Interpolation.Bilinear);
        _source = new ImageDataSource(set, pipeline, new ImageLoaderOptions { Workers = Workers, PrefetchBatches = 4 });
    }

    [Benchmark(OperationsPerInvoke = Images)]
    public long Epoch()
    {
        long seen = 0;
        foreach (var (images, labels) in _source.Batches(256, shuffle: true, seed: 1))
        {
            seen += labels.shape[0];
            images.Dispose();
            labels.Dispose();
        }
        return seen;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.Report($"the {Size} px loader with {Workers} workers");
        if (Directory.Exists(_root)) Directory.Delete(_root, true);
    }

    /// <summary>Writes <paramref name="count"/> 64 px RGB JPEG files (quality 90) in 4 class folders: blurred random
    /// shapes on a gradient, so the JPEG coder sees edges and smooth areas as in photos.</summary>
    internal static void WriteImages(string root, int count)
    {
        var random = new Random(42);
        for (var i = 0; i < count; i++)
        {
            var folder = Path.Combine(root, $"class{i % 4}");
            Directory.CreateDirectory(folder);
            using var surface = SKSurface.Create(new SKImageInfo(64, 64, SKColorType.Rgba8888, SKAlphaType.Opaque));
            var canvas = surface.Canvas;
            using (var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(64, 64),
                       new[] { new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)), new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)) },
                       SKShaderTileMode.Clamp))
            using (var background = new SKPaint { Shader = shader })
                canvas.DrawRect(0, 0, 64, 64, background);
            using var paint = new SKPaint { IsAntialias = true };
            for (var s = 0; s < 6; s++)
            {
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                canvas.DrawCircle(random.Next(64), random.Next(64), 4 + random.Next(16), paint);
            }
            using var image = surface.Snapshot();
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
            File.WriteAllBytes(Path.Combine(folder, $"{i:D5}.jpg"), data.ToArray());
        }
    }
}
