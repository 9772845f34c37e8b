using System.Diagnostics;
using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>
/// <c>--checkpoint-memory</c>: the peak resident memory of one float32 training step (forward, backward) of a NormFreeNet
/// with and without gradient checkpointing (<see cref="NFNet.SetGradCheckpointing"/>). Each setting runs in a process of
/// its own (the kernel's high-water mark, <c>VmHWM</c>, only grows), so this process starts a child per setting and
/// prints both. NFNET_BENCH_VARIANT (default eca_nfnet_l0), NFNET_BENCH_RES (224) and NFNET_BENCH_BATCH (16) set the size.
/// </summary>
internal static class CheckpointMemory
{
    public static void Run()
    {
        if (Environment.GetEnvironmentVariable("NFNET_BENCH_CHECKPOINT_CHILD") is { } child)
        {
            Step(child == "1");
            return;
        }
        foreach (var on in new[] { false, true })
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true };
            info.ArgumentList.Add(typeof(CheckpointMemory).Assembly.Location);
            info.ArgumentList.Add("--checkpoint-memory");
            info.Environment["NFNET_BENCH_CHECKPOINT_CHILD"] = on ? "1" : "0";
            using var process = Process.Start(info)!;
            Console.Write(process.StandardOutput.ReadToEnd());
            process.WaitForExit();
        }
    }

    private static void Step(bool checkpointing)
    {
        AllocatorSetting.Apply();
        var variant = BenchmarkTarget.Env("NFNET_BENCH_VARIANT", "eca_nfnet_l0");
        var res = int.Parse(BenchmarkTarget.Env("NFNET_BENCH_RES", "224"));
        var batch = int.Parse(BenchmarkTarget.Env("NFNET_BENCH_BATCH", "16"));
        manual_seed(0);
        using var model = (NFNet)ModelRegistry.Create(BenchmarkTarget.RegistryNameOf(variant));
        model.train();
        model.SetGradCheckpointing(checkpointing);
        using var images = randn(batch, 3, res, res);
        using var labels = randint(0, 1000, new long[] { batch });
        var before = HighWaterMiB();
        var clock = Stopwatch.StartNew();
        using (var scope = NewDisposeScope())
            nn.functional.cross_entropy(model.forward(images), labels).backward();
        Console.WriteLine($"{variant} {res}px batch {batch}, gradient checkpointing {(checkpointing ? "on " : "off")}: " +
            $"peak RSS {HighWaterMiB():F0} MiB ({HighWaterMiB() - before:F0} MiB above the model and inputs), step {clock.Elapsed.TotalMilliseconds:F0} ms");
    }

    private static double HighWaterMiB() =>
        File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).First();
}
