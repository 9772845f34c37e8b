using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using NfNet.Layers;
using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>
/// Inference latency of an NFNet (default F0 at its 256 px eval size, batch 1, float32) with and without the cached
/// standardized weights (<see cref="ImageClassifier.OptimizeForInference"/>). NFNET_BENCH_VARIANT / _INFER_RES / _INFER_BATCH.
/// </summary>
public class InferenceBenchmark
{
    private ImageClassifier _model = null!;
    private Tensor _images = null!;

    /// <summary>The variant (NFNET_BENCH_VARIANTS).</summary>
    [ParamsSource(nameof(Variants))]
    public string Variant { get; set; } = "F0";

    /// <summary>Variants to run.</summary>
    public static IEnumerable<string> Variants() => TrainingStepBenchmark.Variants();

    /// <summary>Whether the standardized weights are cached.</summary>
    [Params(false, true)]
    public bool Cached { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        AllocatorSetting.Apply();
        manual_seed(0);
        var variant = Variant;
        var (res, batch) = BenchmarkTarget.InferenceSize(variant);
        _model = ModelRegistry.Create(BenchmarkTarget.RegistryNameOf(variant));
        _model.to(BenchmarkTarget.Device);
        _model.OptimizeForInference();
        foreach (var conv in _model.modules().OfType<ScaledWSConv2d>()) conv.WeightCacheEnabled = Cached;
        using (var drawn = randn(batch, 3, res, res)) _images = drawn.to(BenchmarkTarget.Device);
        Console.WriteLine($"// {variant} on {BenchmarkTarget.Device.type} {res}px batch {batch}: {_model.CountMacs(res, res) / 1e9:F3} GMACs per image");
    }

    [Benchmark]
    public void Forward()
    {
        using var scope = NewDisposeScope();
        _model.forward(_images);
        BenchmarkTarget.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.Report($"inference (cached={Cached})");
        _model.Dispose();
        _images.Dispose();
    }
}
