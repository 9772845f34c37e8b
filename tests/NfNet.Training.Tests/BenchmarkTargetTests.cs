using NfNet;
using NfNet.Benchmarks;
using TorchSharp;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>The benchmarks' default sizes: small on CPU, the paper's per-device setting on CUDA.</summary>
public sealed class BenchmarkTargetTests
{
    // The defaults are read with an empty environment, so an override set in this process cannot hide them.
    private static string? NoVariables(string name) => null;

    [Theory]
    [InlineData("F0", 8)]
    [InlineData("F2", 8)]
    [InlineData("F3", 4)]
    [InlineData("F4", 4)]
    [InlineData("F5", 2)]
    [InlineData("F7", 2)]
    public void CpuDefaultsAre128PixelsWithABatchThatFinishes(string variant, int batch)
    {
        Assert.Equal((128, batch), BenchmarkTarget.TrainingSize(variant, DeviceType.CPU, NoVariables));
    }

    [Theory]
    [InlineData("F0", 192)]   // the paper's train resolutions (DeepMind's README table)
    [InlineData("F1", 224)]
    [InlineData("F6", 448)]
    [InlineData("F7", 480)]
    public void CudaDefaultsAreThePapersBatch32AtTheTrainResolution(string variant, int resolution)
    {
        Assert.Equal((resolution, 32), BenchmarkTarget.TrainingSize(variant, DeviceType.CUDA, NoVariables));
    }

    [Fact]
    public void InferenceDefaultsToTheEvalResolutionAtBatch1()
    {
        Assert.Equal((256, 1), BenchmarkTarget.InferenceSize("F0", NoVariables));
        Assert.Equal((576, 1), BenchmarkTarget.InferenceSize("F6", NoVariables));
    }

    [Fact]
    public void VariablesOverrideTheDefaultsAndBadValuesAreNamed()
    {
        var env = new Dictionary<string, string> { ["NFNET_BENCH_RES"] = "96", ["NFNET_BENCH_BATCH"] = "3", ["NFNET_BENCH_INFER_BATCH"] = "0" };
        Assert.Equal((96, 3), BenchmarkTarget.TrainingSize("F0", DeviceType.CUDA, n => env.GetValueOrDefault(n)));
        var error = Assert.Throws<ArgumentException>(() => BenchmarkTarget.InferenceSize("F0", n => env.GetValueOrDefault(n)));
        Assert.Contains("NFNET_BENCH_INFER_BATCH", error.Message);
    }

    [Fact]
    public void AnUnknownVariantIsRefused() =>
        Assert.Throws<UnknownVariantException>(() => BenchmarkTarget.TrainingSize("F9", DeviceType.CPU));
}
