using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/NfNet.Benchmarks -- --filter '*'            (defaults: see README)
// dotnet run -c Release --project benchmarks/NfNet.Benchmarks -- --quick --filter '*'    (CI-sized smoke run)
// NFNET_BENCH_VARIANTS=F0,F1,F2 picks the variants of the training and inference benchmarks.
// dotnet run -c Release --project benchmarks/NfNet.Benchmarks -- --step-timer              (one precision's step by stopwatch; StepTimer.cs)
// dotnet run -c Release --project benchmarks/NfNet.Benchmarks -- --checkpoint-memory       (peak memory with and without gradient checkpointing; CheckpointMemory.cs)
// dotnet run -c Release --project benchmarks/NfNet.Benchmarks -- --predictor               (the in-process predictor's latency; PredictorLatency.cs)
if (args.Contains("--predictor"))
{
    NfNet.Benchmarks.PredictorLatency.Run();
    return;
}
if (args.Contains("--checkpoint-memory"))
{
    NfNet.Benchmarks.CheckpointMemory.Run();
    return;
}
if (args.Contains("--step-timer"))
{
    NfNet.Benchmarks.StepTimer.Run();
    return;
}
var quick = args.Contains("--quick");
var rest = args.Where(a => a != "--quick").ToArray();
// Millisecond-to-second steps: the Monitoring strategy (no pilot stage) with 4 warm-up and 8 measured iterations. The
// native heap grows over the first 3–4 training steps (fresh pages fault in: 750 → 520 ms for F0 in bf16), so fewer
// warm-ups would time that growth instead of the steady state.
var job = Job.Default.WithStrategy(BenchmarkDotNet.Engines.RunStrategy.Monitoring).WithWarmupCount(4).WithIterationCount(8);
IConfig config = DefaultConfig.Instance.AddJob(job.WithId("monitoring"));
// Side by side: NFNET_BENCH_BASELINE_SRC=<another checkout>/src adds a job built against that checkout's library (an
// MSBuild property of the project), so one run times both builds, case by case, on the same machine state.
if (Environment.GetEnvironmentVariable("NFNET_BENCH_BASELINE_SRC") is { Length: > 0 } baseline)
{
    if (!File.Exists(Path.Combine(baseline, "NfNet.Core", "NfNet.Core.csproj")))
        throw new ArgumentException($"NFNET_BENCH_BASELINE_SRC: '{baseline}' has no NfNet.Core/NfNet.Core.csproj (give a checkout's src folder)");
    config = DefaultConfig.Instance
        .AddJob(job.WithId("this"))
        .AddJob(job.WithArguments(new[] { new MsBuildArgument($"/p:NfNetSource={Path.GetFullPath(baseline)}") }).WithId("side-by-side").AsBaseline());
}
if (quick)
{
    // One short iteration of every case at a tiny size: proves the benchmarks run, measures nothing.
    Environment.SetEnvironmentVariable("NFNET_BENCH_RES", Environment.GetEnvironmentVariable("NFNET_BENCH_RES") ?? "64");
    Environment.SetEnvironmentVariable("NFNET_BENCH_BATCH", Environment.GetEnvironmentVariable("NFNET_BENCH_BATCH") ?? "2");
    Environment.SetEnvironmentVariable("NFNET_BENCH_INFER_RES", Environment.GetEnvironmentVariable("NFNET_BENCH_INFER_RES") ?? "64");
    Environment.SetEnvironmentVariable("NFNET_BENCH_CEILING_BATCH", Environment.GetEnvironmentVariable("NFNET_BENCH_CEILING_BATCH") ?? "1");
    config = DefaultConfig.Instance.AddJob(Job.Dry.WithId("quick")).WithOptions(ConfigOptions.JoinSummary);
}
BenchmarkSwitcher.FromAssembly(typeof(NfNet.Benchmarks.TrainingStepBenchmark).Assembly).Run(rest, config);
