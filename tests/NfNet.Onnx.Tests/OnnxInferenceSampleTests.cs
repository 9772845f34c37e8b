using System.Diagnostics;
using NfNet.Models;
using NfNet.Onnx.Runtime;
using NfNet.Testing;
using SkiaSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Onnx.Tests;

/// <summary>SkiaSharp preprocessing against hand computations, and samples/NfNet.OnnxInference classifying real PNG and
/// JPEG bytes with ONNX Runtime alone.</summary>
public sealed class OnnxInferenceSampleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-sample-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SKBitmap Bands(int width, int height, int innerLeft, int innerRight, SKColor inner, SKColor outer)
    {
        var bitmap = new SKBitmap(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                bitmap.SetPixel(x, y, x >= innerLeft && x < innerRight ? inner : outer);
        return bitmap;
    }

    [Fact]
    public void AnImageOfTheExportSizeIsScaledAndNormalisedExactly()
    {
        using var bitmap = new SKBitmap(4, 3);
        for (var y = 0; y < 3; y++)
            for (var x = 0; x < 4; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)(10 * x + y), (byte)(50 + x), (byte)(200 - y)));
        var mean = new[] { 0.5f, 0.25f, 0f };
        var std = new[] { 0.5f, 2f, 1f };
        var result = ImagePreprocessor.Preprocess(bitmap, 3, 4, 3, 1.0, mean, std);
        // CHW: channel c, row y, column x at c·12 + y·4 + x; (v/255 − mean) / std.
        Assert.Equal((21 / 255f - 0.5f) / 0.5f, result[0 * 12 + 1 * 4 + 2], 6);   // red of (x 2, y 1) = 21
        Assert.Equal((53 / 255f - 0.25f) / 2f, result[1 * 12 + 2 * 4 + 3], 6);  // green of (x 3, y 2) = 53
        Assert.Equal(198 / 255f, result[2 * 12 + 2 * 4 + 0], 6);                 // blue of (x 0, y 2) = 198
        var grey = ImagePreprocessor.Preprocess(bitmap, 3, 4, 1, 1.0);
        Assert.Equal(Math.Round(0.299 * 21 + 0.587 * 52 + 0.114 * 199) / 255, grey[1 * 4 + 2], 6);
    }

    [Fact]
    public void TheCentreCropTakesTheMiddleAndTheResizeKeepsAConstantColour()
    {
        // 48 × 32: the shorter side is already 32, so only the centre crop acts: columns 8..39 are the inner colour.
        using var wide = Bands(48, 32, 8, 40, new SKColor(200, 100, 50), new SKColor(0, 0, 0));
        var cropped = ImagePreprocessor.Preprocess(wide, 32, 32, 3, 1.0);
        Assert.All(cropped.Take(1024), v => Assert.Equal(200 / 255f, v, 6));
        Assert.All(cropped.Skip(2048), v => Assert.Equal(50 / 255f, v, 6));
        // crop_pct 0.875 on a 64 × 64 constant image: resized to 36, cropped to 32; a constant stays that constant.
        using var flat = Bands(64, 64, 0, 64, new SKColor(90, 90, 90), new SKColor(90, 90, 90));
        Assert.All(ImagePreprocessor.Preprocess(flat, 32, 32, 3, 0.875), v => Assert.Equal(90 / 255f, v, 2));
    }

    [Fact]
    public void TheSquashCropModeResizesBothSidesAndKeepsTheWholeImage()
    {
        // 48 × 32 with black bands of 8 px left and right: squashed to 32 × 32 (timm's crop_mode='squash', crop 1.0) the
        // bands become ~5.3 px and stay in the picture; the centre crop of the shorter-side resize cuts them off.
        using var wide = Bands(48, 32, 8, 40, new SKColor(200, 100, 50), new SKColor(0, 0, 0));
        var squashed = ImagePreprocessor.Preprocess(wide, 32, 32, 3, 1.0, squash: true);
        var centred = ImagePreprocessor.Preprocess(wide, 32, 32, 3, 1.0);
        for (var row = 0; row < 32; row++)
        {
            Assert.True(squashed[row * 32] < 0.02f, $"row {row}: the squashed left edge is the black band ({squashed[row * 32]})");
            Assert.True(squashed[row * 32 + 31] < 0.02f, $"row {row}: the squashed right edge is the black band");
            Assert.Equal(200 / 255f, squashed[row * 32 + 16], 2);   // the middle keeps the inner colour
            Assert.Equal(200 / 255f, centred[row * 32], 6);          // the centre crop starts inside the band
        }
    }

    [Fact]
    public void TheSampleClassifiesPngAndJpegFilesWithOnnxRuntimeAlone()
    {
        manual_seed(31);
        using var model = new NFNet(new NFNetConfig
        {
            Name = "sample-test", Widths = new[] { 32, 64 }, Depths = new[] { 1, 1 }, StemWidth = 16, GroupWidth = 16, NumClasses = 3,
            DropRate = 0, StochasticDepthRate = 0,
        });
        using (no_grad()) foreach (var (name, p) in model.named_parameters()) if (name.EndsWith("skipinit_gain")) p.FillInPlace(0.8);
        model.eval();
        var onnx = Path.Combine(_dir, "model.onnx");
        model.ExportOnnx(onnx, 32, 32);
        var labels = Path.Combine(_dir, "labels.txt");
        File.WriteAllLines(labels, new[] { "red", "green", "blue" });
        var files = new List<string>();
        foreach (var (format, extension) in new[] { (SKEncodedImageFormat.Png, "png"), (SKEncodedImageFormat.Jpeg, "jpg") })
        {
            using var bitmap = Bands(40, 36, 5, 30, new SKColor(220, 30, 40), new SKColor(20, 200, 90));
            var path = Path.Combine(_dir, $"image.{extension}");
            using (var data = bitmap.Encode(format, 95)) File.WriteAllBytes(path, data.ToArray());
            files.Add(path);
        }
        var broken = Path.Combine(_dir, "broken.png");
        File.WriteAllBytes(broken, File.ReadAllBytes(files[0])[..20]);

        var (exit, output) = RunSample(new[] { onnx }.Concat(files).Concat(new[] { "--labels", labels, "--top", "2" }).ToArray());
        Assert.True(exit == 0, output);
        using var classifier = new OnnxClassifier(onnx, new[] { "red", "green", "blue" });
        foreach (var file in files)
        {
            var expected = classifier.TopK(ImagePreprocessor.Load(file, classifier), 1, 2)[0];
            var line = output.Split('\n').Single(l => l.StartsWith(file + ":", StringComparison.Ordinal));
            Assert.StartsWith($"{file}: {expected[0].Name} ", line);
        }
        var (badExit, badOutput) = RunSample(onnx, broken);
        Assert.Equal(1, badExit);
        Assert.Contains("broken.png", badOutput);
    }

    private static (int Exit, string Output) RunSample(params string[] arguments)
    {
        string? dll = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null && dll is null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NfNet.sln")))
                dll = Path.Combine(dir.FullName, "samples", "NfNet.OnnxInference", "bin", "Release", "net10.0", "NfNet.OnnxInference.dll");
        Assert.True(dll is not null && File.Exists(dll), $"build the sample first (scripts/setup.sh builds the solution): {dll}");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll!);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)));
        // The sample must not have loaded libtorch: it references ONNX Runtime and SkiaSharp only.
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(dll)!, "TorchSharp.dll")), "the sample ships TorchSharp");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
