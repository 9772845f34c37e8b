using NfNet.Devices;
using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>
/// Where the benchmarks run and at what size. The device is <see cref="DeviceSelection.Best"/>: CUDA when TorchSharp has
/// a CUDA backend and a GPU, else the CPU; <c>NFNET_DEVICE=cpu</c> or <c>cuda:N</c> overrides it.
/// </summary>
/// <remarks>
/// <para>Training-step defaults: on CPU, sizes that finish on a few cores (128 px; batch 8 for F0–F2, 4 for F3–F4, 2 for
/// F5–F7); on CUDA, the paper's per-device setting (batch 32 at the variant's train resolution, 192 px for F0).
/// <c>NFNET_BENCH_RES</c> and <c>NFNET_BENCH_BATCH</c> override either. Inference: the variant's eval resolution, batch 1
/// (<c>NFNET_BENCH_INFER_RES</c>, <c>NFNET_BENCH_INFER_BATCH</c>).</para>
/// <para>CUDA work is asynchronous, so each timed CUDA operation ends with <see cref="Synchronize"/>. TF32 stays off
/// (float32 means float32) unless <c>NFNET_BENCH_TF32=1</c>.</para>
/// </remarks>
public static class BenchmarkTarget
{
    /// <summary>The per-device batch of the paper's training runs (NFNet paper, §4: 32 per TPU core / GPU).</summary>
    public const int PaperBatchPerDevice = 32;

    /// <summary>The device the benchmarks run on (chosen once per process).</summary>
    public static Device Device => s_device.Value;

    private static readonly Lazy<Device> s_device = new(() =>
    {
        var device = DeviceSelection.Best();
        if (device.type == DeviceType.CUDA) DeviceSelection.SetTf32(Env("NFNET_BENCH_TF32", "0") == "1");
        return device;
    });

    /// <summary>Training-step resolution and batch for <paramref name="variant"/> on <paramref name="device"/>.</summary>
    /// <exception cref="ArgumentException">A size variable that is not a positive integer.</exception>
    public static (int Resolution, int Batch) TrainingSize(string variant, DeviceType device) =>
        TrainingSize(variant, device, Environment.GetEnvironmentVariable);

    /// <summary><see cref="TrainingSize(string, DeviceType)"/> with the variables read from <paramref name="environment"/>.</summary>
    internal static (int Resolution, int Batch) TrainingSize(string variant, DeviceType device, Func<string, string?> environment)
    {
        var config = ConfigOf(variant);
        var cuda = device == DeviceType.CUDA;
        var resolution = PositiveInt("NFNET_BENCH_RES", cuda ? config.TrainResolution : 128, environment);
        var batch = PositiveInt("NFNET_BENCH_BATCH", cuda ? PaperBatchPerDevice : CpuBatch(config), environment);
        return (resolution, batch);
    }

    /// <summary>Inference resolution and batch for <paramref name="variant"/> (the eval resolution, batch 1).</summary>
    /// <exception cref="ArgumentException">A size variable that is not a positive integer.</exception>
    public static (int Resolution, int Batch) InferenceSize(string variant) => InferenceSize(variant, Environment.GetEnvironmentVariable);

    /// <summary><see cref="InferenceSize(string)"/> with the variables read from <paramref name="environment"/>.</summary>
    internal static (int Resolution, int Batch) InferenceSize(string variant, Func<string, string?> environment) =>
        (PositiveInt("NFNET_BENCH_INFER_RES", ConfigOf(variant).EvalResolution, environment),
         PositiveInt("NFNET_BENCH_INFER_BATCH", 1, environment));

    /// <summary>CPU default batch: 8 for F0–F2, 4 for F3–F4, 2 for F5–F7 (by third-stage depth: 6/12/18, 24/30, 36/42).</summary>
    /// <summary>The configuration of <paramref name="variant"/>: a NormFreeNet family name (<c>eca_nfnet_l0</c>,
    /// <c>nf_regnet_b1</c>, <c>dm_nfnet_f0</c>) or a DeepMind variant (<c>F0</c>).</summary>
    internal static NFNetConfig ConfigOf(string variant) =>
        NormFreeFamily.Names.Contains(variant, StringComparer.OrdinalIgnoreCase) ? NormFreeFamily.Get(variant) : NFNetVariants.Get(variant);

    /// <summary>The registry name of <paramref name="variant"/> (see <see cref="ConfigOf"/>).</summary>
    internal static string RegistryNameOf(string variant) =>
        NormFreeFamily.Names.Contains(variant, StringComparer.OrdinalIgnoreCase) ? variant.ToLowerInvariant() : NFNetVariants.RegistryName(NFNetVariants.Get(variant));

    internal static int CpuBatch(NFNetConfig config) => config.Depths[2] switch
    {
        <= 18 => 8,
        <= 30 => 4,
        _ => 2,
    };

    /// <summary>Waits for the device's queued work (CUDA); nothing on the CPU, where every operation is synchronous.</summary>
    public static void Synchronize()
    {
        if (Device.type == DeviceType.CUDA) cuda.synchronize(Device);
    }

    internal static string Env(string name, string fallback) => Environment.GetEnvironmentVariable(name) ?? fallback;

    /// <summary>The positive integer in environment variable <paramref name="name"/>, or <paramref name="fallback"/> when unset.</summary>
    /// <exception cref="ArgumentException">A value that is not a positive integer.</exception>
    internal static int PositiveInt(string name, int fallback, Func<string, string?>? environment = null)
    {
        var text = (environment ?? Environment.GetEnvironmentVariable)(name);
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return int.TryParse(text, out var value) && value > 0 ? value
            : throw new ArgumentException($"{name} must be a positive integer, got '{text}'");
    }
}
