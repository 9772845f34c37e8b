using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace NfNet.Cli.Tests;

/// <summary>A run of <c>nfnet train</c> on the committed image folder, shared by the tests of the commands that use its
/// checkpoint.</summary>
public sealed class TrainedRun : IDisposable
{
    public TrainedRun()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("nfnet-cli-").FullName;
        Result = Tool.Run("train", "--images", Tool.Images, "--epochs", "2", "--batch", "8", "--out", Path.Combine(Directory, "run"), "--seed", "3");
    }

    public string Directory { get; }
    public Tool.Result Result { get; }
    public string Checkpoint => Path.Combine(Directory, "run", "checkpoint.nfckpt");
    public string Val => Path.Combine(Tool.Images, "val");

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

/// <summary>
/// The <c>nfnet</c> commands run as a user runs them (a process of their own): train on the fixture folder, validate and
/// predict its checkpoint (two code paths that must agree), export checked in ONNX Runtime and predict with the ONNX
/// file, benchmark, info/models, and every error a user can cause as one line with a non-zero exit code.
/// </summary>
public sealed class CommandTests(TrainedRun run) : IClassFixture<TrainedRun>
{
    private static readonly string[] ValClasses = { "0_T-shirt-top", "1_Trouser", "7_Sneaker" };

    [Fact]
    public void TrainWritesTheCheckpointMetricsAndPlots()
    {
        Assert.True(run.Result.Code == 0, run.Result.All);
        Assert.Contains("training images in 3 classes", run.Result.Output);
        Assert.Contains("val accuracy", run.Result.Output);
        Assert.True(File.Exists(run.Checkpoint));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(run.Directory, "run", "metrics.csv")).Length); // header + 2 epochs
        Assert.True(new FileInfo(Path.Combine(run.Directory, "run", "curves.png")).Length > 1000);
    }

    [Fact]
    public void ValidateAndPredictAgreeOnTheCheckpointsAccuracy()
    {
        var results = Path.Combine(run.Directory, "validate.json");
        var validate = Tool.Run("validate", "--checkpoint", run.Checkpoint, "--images", run.Val, "--fp32", "--batch", "5", "--results-file", results);
        Assert.True(validate.Code == 0, validate.All);
        using var json = JsonDocument.Parse(File.ReadAllText(results));
        var row = json.RootElement[0];
        Assert.Equal(12, row.GetProperty("count").GetInt64());
        var top1 = row.GetProperty("top1").GetDouble();

        // predict reads each file on its own (no batches, no data source): its top-1 classes must give the same accuracy.
        var csv = Path.Combine(run.Directory, "predict.csv");
        var predict = Tool.Run("predict", "--checkpoint", run.Checkpoint, run.Val, "--top", "3", "--output", csv);
        Assert.True(predict.Code == 0, predict.All);
        var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(12 * 3, rows.Length);
        var firsts = rows.Where(r => r[1] == "1").ToArray();
        var correct = firsts.Count(r => Array.IndexOf(ValClasses, Path.GetFileName(Path.GetDirectoryName(r[0]))) == int.Parse(r[2], CultureInfo.InvariantCulture));
        Assert.Equal(top1, 100.0 * correct / firsts.Length, 3);
        foreach (var file in rows.GroupBy(r => r[0]))
        {
            var p = file.Select(r => double.Parse(r[4], CultureInfo.InvariantCulture)).ToArray();
            Assert.True(p.Zip(p.Skip(1)).All(t => t.First >= t.Second) && p.Sum() <= 1 + 1e-5 && p.All(v => v > 0), $"{file.Key}: {string.Join(", ", p)}");
        }
    }

    [Fact]
    public void ExportIsCheckedInOnnxRuntimeAndTheOnnxFilePredicts()
    {
        var onnx = Path.Combine(run.Directory, "model.onnx");
        var safetensors = Path.Combine(run.Directory, "model.safetensors");
        var export = Tool.Run("export", "--checkpoint", run.Checkpoint, "--onnx", onnx, "--safetensors", safetensors, "--opset", "17");
        Assert.True(export.Code == 0, export.All);
        var difference = double.Parse(Regex.Match(export.Output, @"TorchSharp\| = ([0-9.E+-]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(difference, 0, 1e-4);
        Assert.True(new FileInfo(safetensors).Length > 100_000);

        var predict = Tool.Run("predict", "--onnx", onnx, run.Val, "-k", "2", "--output", Path.Combine(run.Directory, "onnx.json"));
        Assert.True(predict.Code == 0, predict.All);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.Directory, "onnx.json")));
        Assert.Equal(12, json.RootElement.GetArrayLength());
        Assert.All(json.RootElement.EnumerateArray(), r => Assert.Equal(2, r.GetProperty("top").GetArrayLength()));
    }

    [Fact]
    public void TrainTakesListFilesOfPathsAndLabels()
    {
        // path,label lines (labels by class name), relative to the list's folder: the fixture folder's files.
        string List(string split)
        {
            var file = Path.Combine(run.Directory, $"{split}.csv");
            File.WriteAllLines(file, new[] { "path,label" }.Concat(Directory.GetFiles(Path.Combine(Tool.Images, split), "*", SearchOption.AllDirectories)
                .Where(f => !f.Contains("damaged")).Order(StringComparer.Ordinal)
                .Select(f => $"{f},{Path.GetFileName(Path.GetDirectoryName(f))}")));
            return file;
        }
        var result = Tool.Run("train", "--list", List("train"), "--val-list", List("val"), "--epochs", "1", "--batch", "8",
            "--out", Path.Combine(run.Directory, "list-run"));
        Assert.True(result.Code == 0, result.All);
        Assert.Contains("validation accuracy", result.Output);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(run.Directory, "list-run", "metrics.csv")).Length);
    }

    [Fact]
    public void BenchmarkWritesATableAndCsvOfInferenceAndTraining()
    {
        var csv = Path.Combine(run.Directory, "bench.csv");
        var result = Tool.Run("benchmark", "--model", "efficientnetv2_b0", "--resolution", "64", "--batch", "2", "--steps", "1", "--warmup", "0", "--csv", csv);
        Assert.True(result.Code == 0, result.All);
        var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(new[] { "inference", "train step" }, rows.Select(r => r[0]));
        Assert.All(rows, r => Assert.True(double.Parse(r[5], CultureInfo.InvariantCulture) > 0 && long.Parse(r[7], CultureInfo.InvariantCulture) > 100_000_000));
        // Every figure says its processor: the model name the kernel reads from CPUID, and its bf16 capability.
        var model = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("model name", StringComparison.Ordinal)).Split(':', 2)[1];
        var name = string.Join(' ', model.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"cpu: {name}:", result.Output);
        Assert.All(File.ReadAllLines(csv).Skip(1), l => Assert.Contains($",\"{name}: ", l));
        var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal));
        var native = flags.Contains(" avx512_bf16") || flags.Contains(" amx_bf16");
        Assert.Contains(native ? "precision mixed" : "precision fp32", result.Output);   // --precision auto, the default
    }

    [Fact]
    public void InfoAndModelsDescribeTheRegistry()
    {
        var info = Tool.Run("info", "dm_nfnet_f0");
        Assert.True(info.Code == 0, info.All);
        Assert.Contains("71,489,284", info.Output);    // the paper's F0 and timm's dm_nfnet_f0
        Assert.Contains("12.38 B", info.Output);       // MACs at 256 px
        Assert.Contains("timm/dm_nfnet_f0.dm_in1k", info.Output);
        var models = Tool.Run("models");
        Assert.True(models.Code == 0, models.All);
        foreach (var name in new[] { "dm_nfnet_f0", "dm_nfnet_f7", "dm_nf_resnet50", "resnet50", "resnetv2_50", "efficientnetv2_s", "efficientnetv2_b0", "coatnet_0" })
            Assert.Contains(name, models.Output);
        var checkpoint = Tool.Run("info", run.Checkpoint);
        Assert.Contains("epoch 2", checkpoint.Output);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("validate")]
    [InlineData("predict")]
    [InlineData("export")]
    [InlineData("benchmark")]
    [InlineData("info")]
    [InlineData("models")]
    public void EveryCommandHasHelp(string command)
    {
        var help = Tool.Run(command, "--help");
        Assert.Equal(0, help.Code);
        Assert.Contains("USAGE", help.Output);
        Assert.Contains("--verbose", help.Output);
        if (command != "models") Assert.Contains("EXAMPLES", help.Output);
    }

    public static TheoryData<string[], int, string> UserErrors() => new()
    {
        { new[] { "info", "no_such_model" }, 1, "neither a registered model nor a checkpoint" },
        { new[] { "validate", "--checkpoint", "/nonexistent/ckpt.nfckpt", "--data", "/nonexistent" }, 1, "--checkpoint: no file at" },
        { new[] { "validate", "--model", "no_such_model", "--weights", "/etc/hostname", "--data", "/nonexistent" }, 1, "unknown model 'no_such_model'" },
        { new[] { "train", "--bogus" }, 2, "Unknown option 'bogus'" },
        { new[] { "train", "--images", "/tmp", "--limit", "5" }, 2, "--limit applies to Fashion-MNIST" },
        { new[] { "train", "--model", "resnet50" }, 2, "--model applies to image data" },
        { new[] { "predict", "--onnx", "x.onnx", "--model", "resnet50", "a.jpg" }, 1, "--onnx is the model" },
        { new[] { "export", "--model", "resnet50", "--onnx", "x.onnx" }, 1, "say which model" },
    };

    [Theory]
    [MemberData(nameof(UserErrors))]
    public void AUserErrorIsOneLineAndANonZeroExitCodeNeverAStackTrace(string[] args, int code, string message)
    {
        var result = Tool.Run(args);
        Assert.Equal(code, result.Code);
        Assert.StartsWith("nfnet: ", result.Errors);
        Assert.Contains(message, result.Errors);
        Assert.DoesNotContain("   at ", result.All);
        var verbose = Tool.Run(args.Append("--verbose").ToArray());
        Assert.Equal(code, verbose.Code);
        if (code == 1) Assert.Contains("   at ", verbose.Errors);   // --verbose shows the stack trace
    }

    [Fact]
    public void DamagedCheckpointsWrongClassCountsAndOfflineMissesAreTypedOneLineErrors()
    {
        var damaged = Path.Combine(run.Directory, "damaged.nfckpt");
        var bytes = File.ReadAllBytes(run.Checkpoint);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(damaged, bytes);
        var bad = Tool.Run("validate", "--checkpoint", damaged, "--images", run.Val);
        Assert.Equal(1, bad.Code);
        Assert.Contains("damaged", bad.Errors);

        var tenClasses = Path.Combine(run.Directory, "ten");
        Assert.Equal(0, Tool.Run("train", "--data", Tool.FashionMnistSlice, "--limit", "64", "--epochs", "1", "--batch", "32", "--out", tenClasses).Code);
        var wrong = Tool.Run("validate", "--checkpoint", Path.Combine(tenClasses, "checkpoint.nfckpt"), "--images", run.Val);
        Assert.Equal(1, wrong.Code);
        Assert.Contains("the model has 10 classes, the data 3", wrong.Errors);

        var cache = Directory.CreateTempSubdirectory("nfnet-cli-hf-").FullName;
        try
        {
            var offline = Tool.Run(null, new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_CACHE"] = cache },
                "export", "--model", "dm_nfnet_f0", "--pretrained", "--safetensors", Path.Combine(run.Directory, "f0.safetensors"));
            Assert.Equal(1, offline.Code);
            Assert.Contains("HF_HUB_OFFLINE", offline.Errors);
            Assert.Contains(Path.Combine(cache, "models--timm--dm_nfnet_f0.dm_in1k"), offline.Errors);
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
