using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Devices;

/// <summary>
/// Picks the device to train on and sets the CUDA precision switches. To move a model together with its optimizer
/// state, use <c>NfNet.Optim.OptimizerState.MoveTo</c>.
/// </summary>
public static class DeviceSelection
{
    /// <summary>Environment variable that overrides the automatic choice (<c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>).</summary>
    public const string OverrideVariable = "NFNET_DEVICE";

    /// <summary>
    /// The device to use: <paramref name="preferred"/> if given, else <see cref="OverrideVariable"/>, else CUDA when
    /// available, else the CPU. (CUDA availability is queried before anything else, as TorchSharp issue #1198 asks.)
    /// </summary>
    /// <exception cref="InvalidOperationException">CUDA was asked for but is not available.</exception>
    /// <exception cref="ArgumentException">The name is not a device.</exception>
    public static Device Best(string? preferred = null)
    {
        var cudaAvailable = cuda.is_available();
        var name = Resolve(preferred ?? Environment.GetEnvironmentVariable(OverrideVariable), cudaAvailable);
        return name == "cpu" ? CPU : name == "cuda" ? CUDA : device(name);
    }

    /// <summary>The rule of <see cref="Best"/> without the machine: the device name chosen for a requested
    /// <paramref name="name"/> (null or blank: automatic) when CUDA is or is not available.</summary>
    internal static string Resolve(string? name, bool cudaAvailable)
    {
        if (string.IsNullOrWhiteSpace(name)) return cudaAvailable ? "cuda" : "cpu";
        name = name.Trim().ToLowerInvariant();
        if (name == "cpu") return "cpu";
        if (name == "cuda" || (name.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(name[5..], out var index) && index >= 0))
        {
            if (!cudaAvailable)
                throw new InvalidOperationException($"device '{name}' was requested but CUDA is not available (TorchSharp needs a " +
                    "TorchSharp-cuda-* package and a GPU); use 'cpu'");
            return name;
        }
        throw new ArgumentException($"unknown device '{name}' (expected cpu, cuda or cuda:N)", nameof(name));
    }

    /// <summary>TF32 matmuls and cuDNN convolutions on Ampere+ GPUs (faster, ~10-bit mantissa). No effect on CPU.</summary>
    public static void SetTf32(bool enabled)
    {
        backends.cuda.matmul.allow_tf32 = enabled;
        backends.cudnn.allow_tf32 = enabled;
    }

    /// <summary>
    /// Seeds every generator (CPU and all GPUs) with <paramref name="seed"/>. TorchSharp 0.107 marks
    /// <c>use_deterministic_algorithms</c> "not implemented" and has no cuDNN determinism switch, so GPU kernels that are
    /// non-deterministic by nature (atomics in some backward passes) stay so; on CPU, NfNet.NET's training is
    /// reproducible bit for bit (its resume test relies on it).
    /// </summary>
    public static void Seed(long seed)
    {
        manual_seed(seed);
        if (cuda.is_available()) cuda.manual_seed_all(seed);
    }

    /// <summary>The processor's model and the instruction sets that choose libtorch's CPU kernels and the precision
    /// <see cref="PrecisionMode.Auto"/> picks, e.g. <c>AMD EPYC 7B13: AVX2, no AVX-512, no native bf16</c>: what a
    /// benchmark figure should be recorded with.</summary>
    public static string DescribeCpu() => Platform.CpuFeatures.Describe();
}
