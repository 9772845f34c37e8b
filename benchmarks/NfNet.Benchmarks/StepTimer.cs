using System.Diagnostics;

namespace NfNet.Benchmarks;

/// <summary>
/// <c>--step-timer</c>: times <see cref="TrainingStepBenchmark.TrainingStep"/> with a stopwatch in this process, one
/// precision, and prints one line. It exists for comparisons with another framework's process
/// (<c>benchmarks/pytorch-reference</c>), which must alternate with this one on the same machine state; BenchmarkDotNet
/// cannot run the other framework's process between its own.
/// </summary>
/// <remarks>Not <c>nfnet benchmark</c>'s timer: that one times the tool's own step (timm's benchmark.py), this one the
/// benchmark's, so the comparison and the BenchmarkDotNet rows time the same work.
/// Same model, input, optimizer and step as the benchmark (its own <c>Setup</c> and method). Warm-ups as the
/// benchmark's job: the native heap grows over the first steps (Program.cs). <c>NFNET_BENCH_PRECISION</c> picks the
/// precision (default Float32), <c>NFNET_BENCH_WARMUP</c> / <c>NFNET_BENCH_STEPS</c> the counts (4 / 8).
/// <para>In lockstep (<see cref="LockstepTurn"/>: <c>NFNET_BENCH_TURN_READY</c>, <c>_WAIT</c>, <c>_PASS</c>) every
/// turn (one step, or <c>NFNET_BENCH_TURN_STEPS</c>) waits for its turn and passes it on, so the turns of several
/// processes alternate one by one.</para></remarks>
internal static class StepTimer
{
    public static void Run()
    {
        var benchmark = new TrainingStepBenchmark
        {
            Variant = BenchmarkTarget.Env("NFNET_BENCH_VARIANT", "F0"),
            Precision = TrainingStepBenchmark.ParsePrecision(BenchmarkTarget.Env("NFNET_BENCH_PRECISION", "Float32"), "NFNET_BENCH_PRECISION"),
        };
        var warmups = Count("NFNET_BENCH_WARMUP", 4, allowZero: true);
        var steps = Count("NFNET_BENCH_STEPS", 8, allowZero: false);
        benchmark.Setup();
        using var turn = LockstepTurn.FromEnvironment();
        turn?.Ready();
        var times = new double[warmups + steps];
        for (var i = 0; i < times.Length; i++)
        {
            turn?.BeforeStep(i);
            var clock = Stopwatch.StartNew();
            benchmark.TrainingStep();
            times[i] = clock.Elapsed.TotalMilliseconds;
            turn?.AfterStep(i, times.Length);
        }
        var measured = times[warmups..];
        var sorted = measured.Order().ToArray();
        var median = (sorted[(sorted.Length - 1) / 2] + sorted[sorted.Length / 2]) / 2;
        Console.WriteLine($"nfnet {benchmark.Variant} {benchmark.Precision}: median {median:F1} ms, mean {measured.Average():F1} ms over {steps} steps after {warmups} warm-ups; steps {string.Join(' ', measured.Select(t => t.ToString("F0")))}");
        benchmark.Cleanup();
    }

    private static int Count(string name, int fallback, bool allowZero)
    {
        var text = BenchmarkTarget.Env(name, fallback.ToString());
        return int.TryParse(text, out var value) && (value > 0 || (allowZero && value == 0)) ? value
            : throw new ArgumentException($"{name} must be a {(allowZero ? "non-negative" : "positive")} integer, got '{text}'");
    }
}
