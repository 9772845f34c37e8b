using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>
/// This machine's convolution ceiling, measured in the same run: a large 3×3 convolution (batch 8, 256 → 256 channels,
/// 64×64, stride 1) forward, in float32 and bf16. 8·256·256·9·64·64 = 19.33 GMACs = 38.65 GFLOP per call, so
/// GFLOP/s = 38.65 / seconds. The training benchmark's achieved rate is reported as a fraction of it. Runs on
/// <see cref="BenchmarkTarget.Device"/>, like the training and inference benchmarks. <c>NFNET_BENCH_CEILING_BATCH</c>
/// changes the batch (<c>--quick</c> sets 1: on a CPU without native bf16 the emulated bf16 call of batch 8 takes a minute).
/// </summary>
public class ConvCeilingBenchmark
{
    /// <summary>Images per call (default 8).</summary>
    public static int Batch => int.Parse(BenchmarkTarget.Env("NFNET_BENCH_CEILING_BATCH", "8"), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>GMACs of one call.</summary>
    public static double GigaMacs => Batch * 256.0 * 256 * 9 * 64 * 64 / 1e9;

    private Tensor _x = null!;
    private Tensor _w = null!;

    /// <summary>Element type.</summary>
    [Params(ScalarType.Float32, ScalarType.BFloat16)]
    public ScalarType DType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        AllocatorSetting.Apply();
        manual_seed(0);
        // A scope holds the chains' temporaries while libtorch reads them (docs/platform.md); the inputs leave it.
        using (NewDisposeScope())
        using (var fanInRoot = 48.ToScalar())   // an owned Scalar: an implicit one is left to the finalizer
        {
            _x = randn(Batch, 256, 64, 64).to(DType).to(BenchmarkTarget.Device).DetachFromDisposeScope();
            _w = randn(256, 256, 3, 3).div_(fanInRoot).to(DType).to(BenchmarkTarget.Device).DetachFromDisposeScope();
        }
    }

    [Benchmark]
    public void Conv3x3()
    {
        using var scope = NewDisposeScope();
        nn.functional.conv2d(_x, _w, padding: new long[] { 1, 1 });
        BenchmarkTarget.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _x.Dispose();
        _w.Dispose();
    }
}
