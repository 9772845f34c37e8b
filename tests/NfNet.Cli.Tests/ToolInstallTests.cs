using System.Diagnostics;
using Xunit;

namespace NfNet.Cli.Tests;

/// <summary>
/// The tool as users get it: packed (as scripts/pack.sh packs it), installed with <c>dotnet tool install --tool-path</c>
/// from that feed, and its commands run from the installed <c>nfnet</c>: info, train and validate on the fixture image
/// folder, export checked in ONNX Runtime, predict with the exported weights and with the ONNX file, benchmark.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ToolInstallTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-tool-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Output) Dotnet(params string[] args) => DotnetIn(Environment.CurrentDirectory, null, args);

    [Fact]
    public void TheInstalledToolRunsEveryCommand()
    {
        var feed = Path.Combine(_dir, "feed");
        var version = $"0.1.0-tooltest.{DateTime.UtcNow:yyyyMMddHHmmss}";
        var pack = Dotnet("pack", Path.Combine(Tool.Root, "src", "NfNet.Cli", "NfNet.Cli.csproj"), "-c", "Release", "--no-build", "-o", feed,
            $"-p:Version={version}", "-nologo");
        Assert.True(pack.Code == 0, pack.Output);
        var tools = Path.Combine(_dir, "tools");
        var install = Dotnet("tool", "install", "NfNet.Cli", "--tool-path", tools, "--add-source", feed, "--version", version);
        Assert.True(install.Code == 0, install.Output);
        var nfnet = Path.Combine(tools, OperatingSystem.IsWindows() ? "nfnet.exe" : "nfnet");
        Assert.True(File.Exists(nfnet), install.Output);
        Tool.Result Run(params string[] args)
        {
            var result = Tool.Run(nfnet, null, args);
            Assert.True(result.Code == 0, $"nfnet {string.Join(' ', args)}: {result.All}");
            return result;
        }

        Assert.Contains("train", Run("--help").Output);
        Assert.Contains("71,489,284", Run("info", "dm_nfnet_f0").Output);
        // train and validate on the fixture folder: a registry model (the paper's augmentation), 3 classes.
        var run = Path.Combine(_dir, "run");
        var val = Path.Combine(Tool.Images, "val");
        Assert.Contains("val accuracy", Run("train", "--images", Tool.Images, "--model", "efficientnetv2_b0", "--resolution", "32", "--epochs", "1",
            "--batch", "8", "--out", run).Output);
        var checkpoint = Path.Combine(run, "checkpoint.nfckpt");
        Assert.Contains("top-1", Run("validate", "--checkpoint", checkpoint, "--images", val).Output);
        // export checked in ONNX Runtime, and safetensors; predict with those weights and with the ONNX file.
        var onnx = Path.Combine(_dir, "model.onnx");
        var weights = Path.Combine(_dir, "model.safetensors");
        Assert.Contains("checked in ONNX Runtime", Run("export", "--checkpoint", checkpoint, "--onnx", onnx, "--resolution", "32", "--safetensors", weights).Output);
        static int Predictions(Tool.Result r) => r.Output.Split('\n').Count(l => l.Contains(".png:") || l.Contains(".jpg:"));
        Assert.Equal(12, Predictions(Run("predict", "--model", "efficientnetv2_b0", "--num-classes", "3", "--weights", weights, val, "-k", "1")));
        Assert.Equal(12, Predictions(Run("predict", "--onnx", onnx, val, "-k", "1")));
        Assert.Contains("train step", Run("benchmark", "--model", "efficientnetv2_b0", "--resolution", "32", "--batch", "2", "--steps", "1", "--warmup", "0").Output);

        // As a local tool of a repository: a manifest, then `dotnet tool run nfnet`.
        var repo = Path.Combine(_dir, "repo");
        Directory.CreateDirectory(repo);
        // Local tools live in the NuGet package folder: a private one, removed with the test's folder.
        var packages = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(_dir, "packages") };
        Assert.Equal(0, DotnetIn(repo, packages, "new", "tool-manifest").Code);
        var local = DotnetIn(repo, packages, "tool", "install", "NfNet.Cli", "--add-source", feed, "--version", version);
        Assert.True(local.Code == 0, local.Output);
        var models = DotnetIn(repo, packages, "tool", "run", "nfnet", "models");
        Assert.True(models.Code == 0 && models.Output.Contains("coatnet_0"), models.Output);
    }

    private static (int Code, string Output) DotnetIn(string directory, IDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var a in args) info.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(8)), $"dotnet {string.Join(' ', args)} did not finish");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
