using BenchmarkDotNet.Attributes;

namespace NfNet.Benchmarks;

/// <summary>
/// Study 5's step-time comparison as a benchmark: one mixed-bf16 training step (<see cref="ComparisonStep"/>) of NFNet-F0,
/// NF-ResNet-50, BN-ResNet-50 (with and without its batch norms), EfficientNetV2-S/-B0 and CoAtNet-0 at the same
/// resolution and batch (NFNET_BENCH_COMPARE_RES, default 128; NFNET_BENCH_BATCH, default 8; NFNET_BENCH_MODELS picks
/// models by comma-separated name), on the CPU. BN's share of the ResNet step is 1 − t(BN→identity) / t(BN-ResNet-50).
/// </summary>
public class ComparisonStepBenchmark
{
    private ComparisonStep _step = null!;

    /// <summary>The models (NFNET_BENCH_MODELS, comma-separated; default all).</summary>
    public static IEnumerable<string> Models() =>
        Environment.GetEnvironmentVariable("NFNET_BENCH_MODELS") is { Length: > 0 } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : ComparisonModels.Names;

    /// <summary>The model.</summary>
    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "NFNet-F0";

    [GlobalSetup]
    public void Setup()
    {
        AllocatorSetting.Apply();
        var res = BenchmarkTarget.PositiveInt("NFNET_BENCH_COMPARE_RES", BenchmarkTarget.PositiveInt("NFNET_BENCH_RES", 128));
        var batch = BenchmarkTarget.PositiveInt("NFNET_BENCH_BATCH", 8);
        _step = new ComparisonStep(Model, batch, res);
        Console.WriteLine($"// {Model} {res}px batch {batch}: {_step.MacsPerImage / 1e9:F3} GMACs per image forward");
    }

    [Benchmark]
    public void MixedBf16TrainingStep() => _step.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.Report($"comparison step ({Model})");
        _step.Dispose();
    }
}
