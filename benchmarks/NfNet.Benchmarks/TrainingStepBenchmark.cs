using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using NfNet.Devices;
using NfNet.Models;
using NfNet.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>
/// One training step of an NFNet on CPU: forward, fp32 cross-entropy, backward and the paper's AGC-SGD step (Nesterov,
/// clipping, weight decay after clipping), in float32, mixed bf16 (float32 weights, bf16 activations) and pure bf16.
/// Defaults (see <see cref="BenchmarkTarget"/>): on CPU, F0 at 128 px, batch 8; on CUDA, the paper's batch 32 at the train
/// resolution. NFNET_BENCH_VARIANT / _RES / _BATCH change them. The MACs of the
/// configuration are printed, so the achieved FLOP rate is 3 × 2 × MACs × batch / time (forward + backward ≈ 3 passes).
/// </summary>
public class TrainingStepBenchmark
{
    private ImageClassifier _model = null!;
    private Tensor _images = null!;
    private Tensor _labels = null!;
    private optim.Optimizer _optimizer = null!;

    /// <summary>NFNet variants (NFNET_BENCH_VARIANTS, comma-separated; default F0): DeepMind's F0–F7 or any NormFreeNet
    /// family name (eca_nfnet_l0, nf_regnet_b1, …).</summary>
    public static IEnumerable<string> Variants() =>
        BenchmarkTarget.Env("NFNET_BENCH_VARIANTS", BenchmarkTarget.Env("NFNET_BENCH_VARIANT", "F0")).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The variant.</summary>
    [ParamsSource(nameof(Variants))]
    public string Variant { get; set; } = "F0";

    /// <summary>Precision modes (NFNET_BENCH_PRECISIONS, comma-separated; default all three).</summary>
    public static IEnumerable<PrecisionMode> Precisions() =>
        BenchmarkTarget.Env("NFNET_BENCH_PRECISIONS", "Float32,MixedBFloat16,BFloat16")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => ParsePrecision(name, "NFNET_BENCH_PRECISIONS"));

    /// <summary>A precision mode by name (any case), or an error naming the <paramref name="variable"/> it came from.</summary>
    internal static PrecisionMode ParsePrecision(string name, string variable) =>
        Enum.TryParse<PrecisionMode>(name, ignoreCase: true, out var mode) ? mode
            : throw new ArgumentException($"{variable}: unknown precision '{name}' (Float32, MixedBFloat16, BFloat16)");

    /// <summary>Precision mode.</summary>
    [ParamsSource(nameof(Precisions))]
    public PrecisionMode Precision { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        AllocatorSetting.Apply();
        manual_seed(0);
        var variant = Variant;
        var device = BenchmarkTarget.Device;
        var (res, batch) = BenchmarkTarget.TrainingSize(variant, device.type);
        _model = ModelRegistry.Create(BenchmarkTarget.RegistryNameOf(variant));
        _model.to(NfNet.Devices.Precision.ParameterType(Precision));
        _model.to(device);
        _model.train();
        // A scope holds the chains' temporaries while libtorch reads them (docs/platform.md); the inputs leave it.
        using (NewDisposeScope())
        {
            _images = randn(batch, 3, res, res).to(NfNet.Devices.Precision.ComputeType(Precision)).to(device).DetachFromDisposeScope();
            _labels = randint(0, 1000, new long[] { batch }).to(device).DetachFromDisposeScope();
        }
        _optimizer = NFNetRecipe.CreateSgdAgc(_model, NFNetRecipe.LearningRateForBatch(batch));
        Console.WriteLine($"// library: {typeof(ImageClassifier).Assembly.Location}");
        Console.WriteLine($"// {variant} on {device.type} {res}px batch {batch}: {_model.CountMacs(res, res) / 1e9:F3} GMACs per image forward");
    }

    [Benchmark]
    public void TrainingStep()
    {
        using var scope = NewDisposeScope();
        _optimizer.zero_grad();
        var logits = _model.forward(_images).to(ScalarType.Float32);
        nn.functional.cross_entropy(logits, _labels).backward();
        _optimizer.step();
        BenchmarkTarget.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.Report($"training steps ({Precision})");
        _model.Dispose();
        _images.Dispose();
        _labels.Dispose();
    }
}
