using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>
/// One training step (forward, cross-entropy, backward, plain SGD update) of an NFNet on CPU, in float32 and bf16.
/// Defaults are small enough for 2 cores: F0 at 128 px, batch 8. Set NFNET_BENCH_VARIANT / _RES / _BATCH to change.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, warmupCount: 1, iterationCount: 5)]
public class TrainingStepBenchmark
{
    private NFNet _model = null!;
    private Tensor _images = null!;
    private Tensor _labels = null!;
    private optim.Optimizer _sgd = null!;

    /// <summary>Compute precision of the whole model.</summary>
    [Params("Float32", "BFloat16")]
    public string Precision { get; set; } = "Float32";

    private static string Env(string name, string fallback) => Environment.GetEnvironmentVariable(name) ?? fallback;

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        var variant = Env("NFNET_BENCH_VARIANT", "F0");
        var res = int.Parse(Env("NFNET_BENCH_RES", "128"));
        var batch = int.Parse(Env("NFNET_BENCH_BATCH", "8"));
        var dtype = Enum.Parse<ScalarType>(Precision);
        _model = NFNet.Create(variant);
        _model.to(dtype);
        _model.train();
        _images = randn(batch, 3, res, res).to(dtype);
        _labels = randint(0, 1000, new long[] { batch });
        _sgd = optim.SGD(_model.parameters(), 0.01);
    }

    [Benchmark]
    public void TrainingStep()
    {
        using var scope = NewDisposeScope();
        _sgd.zero_grad();
        var logits = _model.forward(_images).to(ScalarType.Float32);
        var loss = nn.functional.cross_entropy(logits, _labels);
        loss.backward();
        _sgd.step();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _images.Dispose();
        _labels.Dispose();
    }
}
