using NfNet;
using NfNet.Benchmarks;
using Xunit;
using TorchSharp;

namespace NfNet.Training.Tests;

/// <summary>The benchmarks' default sizes: small on CPU, the paper's per-device setting on CUDA.</summary>
public sealed class BenchmarkTargetTests
{
    // An explicit size override in this process's environment replaces the defaults these tests check.
    private static bool Overridden(params string[] names) => names.Any(n => Environment.GetEnvironmentVariable(n) is not null);

    [Theory]
    [InlineData("F0", 8)]
    [InlineData("F2", 8)]
    [InlineData("F3", 4)]
    [InlineData("F4", 4)]
    [InlineData("F5", 2)]
    [InlineData("F7", 2)]
    public void CpuDefaultsAre128PixelsWithABatchThatFinishes(string variant, int batch)
    {
        if (Overridden("NFNET_BENCH_RES", "NFNET_BENCH_BATCH")) return;
        Assert.Equal((128, batch), BenchmarkTarget.TrainingSize(variant, DeviceType.CPU));
    }

    [Theory]
    [InlineData("F0", 192)]   // the paper's train resolutions (DeepMind's README table)
    [InlineData("F1", 224)]
    [InlineData("F6", 448)]
    [InlineData("F7", 480)]
    public void CudaDefaultsAreThePapersBatch32AtTheTrainResolution(string variant, int resolution)
    {
        if (Overridden("NFNET_BENCH_RES", "NFNET_BENCH_BATCH")) return;
        Assert.Equal((resolution, 32), BenchmarkTarget.TrainingSize(variant, DeviceType.CUDA));
    }

    [Fact]
    public void InferenceDefaultsToTheEvalResolutionAtBatch1()
    {
        if (Overridden("NFNET_BENCH_INFER_RES", "NFNET_BENCH_INFER_BATCH")) return;
        Assert.Equal((256, 1), BenchmarkTarget.InferenceSize("F0"));
        Assert.Equal((576, 1), BenchmarkTarget.InferenceSize("F6"));
    }

    [Fact]
    public void AnUnknownVariantIsRefused() =>
        Assert.Throws<UnknownVariantException>(() => BenchmarkTarget.TrainingSize("F9", DeviceType.CPU));
}
