using static TorchSharp.torch;

namespace NfNet.Devices;

/// <summary>How a model computes: its parameters' dtype and the dtype of its activations.</summary>
public enum PrecisionMode
{
    /// <summary>float32 parameters and activations.</summary>
    Float32,
    /// <summary>
    /// The paper's mixed precision: float32 parameters, gradients and optimizer state; bfloat16 activations and
    /// weights inside the forward and backward passes; float32 logits and loss. Feed bfloat16 images to a float32 model.
    /// </summary>
    MixedBFloat16,
    /// <summary>Everything in bfloat16 (convert the model with <c>model.to(ScalarType.BFloat16)</c>); half the parameter
    /// memory, but updates smaller than a bf16 ulp are lost.</summary>
    BFloat16,
    /// <summary>
    /// Chosen by the device (<see cref="Precision.Choose"/>): <see cref="MixedBFloat16"/> where it computes bf16 natively
    /// (a CUDA device; a CPU with AVX512_BF16 or AMX-BF16), <see cref="Float32"/> elsewhere, where libtorch's oneDNN
    /// emulates bf16 about 19 times slower than float32. The default of the trainer and the tool.
    /// </summary>
    Auto,
}

/// <summary>A precision that <see cref="Precision.Choose"/> settled on, and why.</summary>
/// <param name="Mode">The precision used: never <see cref="PrecisionMode.Auto"/>.</param>
/// <param name="Reason">Why, in a sentence (what the device has).</param>
/// <param name="Warning">Set when an explicit bf16 mode was asked for on a CPU that emulates bf16.</param>
public sealed record PrecisionChoice(PrecisionMode Mode, string Reason, string? Warning = null)
{
    /// <summary>One line for a run's log: the mode and its reason (and the warning, if any).</summary>
    public override string ToString() => $"precision {Precision.Name(Mode)}: {Reason}" + (Warning is null ? "" : $" (warning: {Warning})");
}

/// <summary>
/// NfNet.NET's explicit replacement for autocast (TorchSharp 0.107 has none). The rule is simple: <b>layers compute in
/// the dtype of their input</b>. A float32 model fed bfloat16 images casts each standardized weight (and SE weight) to
/// bfloat16 where it is used, so activations and their gradients are bfloat16 while the parameters, their gradients and
/// the optimizer stay float32; the classifier casts the pooled features back to its own float32 weights, so logits
/// and the loss are float32.
/// </summary>
public static class Precision
{
    /// <summary>Whether parameters of <paramref name="parameters"/> computing in <paramref name="compute"/> is the supported
    /// mixed-precision combination (float32 parameters with bfloat16 or float16 activations).</summary>
    public static bool IsMixed(ScalarType parameters, ScalarType compute) =>
        parameters == ScalarType.Float32 && compute is ScalarType.BFloat16 or ScalarType.Float16;

    /// <summary>The dtype the parameters have in <paramref name="mode"/>.</summary>
    /// <exception cref="ArgumentException"><see cref="PrecisionMode.Auto"/>: <see cref="Choose"/> it first.</exception>
    public static ScalarType ParameterType(PrecisionMode mode) =>
        Settled(mode) == PrecisionMode.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary><paramref name="tensor"/> itself when it already has <paramref name="dtype"/>, else a cast copy (how layers
    /// meet float32 parameters with reduced-precision activations).</summary>
    internal static Tensor Match(Tensor tensor, ScalarType dtype) => tensor.dtype == dtype ? tensor : tensor.to(dtype);

    /// <summary>The dtype of the inputs (and activations) in <paramref name="mode"/>.</summary>
    /// <exception cref="ArgumentException"><see cref="PrecisionMode.Auto"/>: <see cref="Choose"/> it first.</exception>
    public static ScalarType ComputeType(PrecisionMode mode) =>
        Settled(mode) == PrecisionMode.Float32 ? ScalarType.Float32 : ScalarType.BFloat16;

    /// <summary>
    /// Settles <paramref name="requested"/> for <paramref name="device"/> (default: the CPU): <see cref="PrecisionMode.Auto"/>
    /// becomes mixed bf16 where the device computes bf16 natively — CUDA devices, CPUs with AVX512_BF16 or AMX-BF16
    /// (read from CPUID) — and float32 elsewhere; an explicit mode is kept, with a warning when it is a bf16 mode on a
    /// CPU that emulates bf16.
    /// </summary>
    public static PrecisionChoice Choose(PrecisionMode requested, Device? device = null) =>
        ChooseFor(requested, device?.type == TorchSharp.DeviceType.CUDA, Platform.CpuFeatures.NativeBf16);

    internal static PrecisionChoice ChooseFor(PrecisionMode requested, bool cuda, string? cpuBf16)
    {
        var cpu = Platform.CpuFeatures.Describe();
        if (requested == PrecisionMode.Auto)
            return cuda ? new(PrecisionMode.MixedBFloat16, "chosen automatically: a CUDA device computes bf16 (Ampere and newer natively; choose float32 on older GPUs)")
                : cpuBf16 is not null ? new(PrecisionMode.MixedBFloat16, $"chosen automatically: this CPU computes bf16 natively ({cpuBf16}; {cpu})")
                : new(PrecisionMode.Float32, $"chosen automatically: this CPU ({cpu}) has neither AVX512_BF16 nor AMX-BF16, and libtorch emulates bf16 about 19 times slower than float32");
        var warning = !cuda && cpuBf16 is null && requested is PrecisionMode.MixedBFloat16 or PrecisionMode.BFloat16
            ? $"this CPU has no native bf16 ({cpu}): libtorch emulates it, about 19 times slower than float32" : null;
        return new(requested, "as asked", warning);
    }

    /// <summary>The mode's name on the command line: <c>fp32</c>, <c>mixed</c>, <c>bf16</c> or <c>auto</c>.</summary>
    public static string Name(PrecisionMode mode) => mode switch
    {
        PrecisionMode.Float32 => "fp32",
        PrecisionMode.MixedBFloat16 => "mixed",
        PrecisionMode.BFloat16 => "bf16",
        _ => "auto",
    };

    /// <summary>The mode a command-line name (<see cref="Name"/>) stands for.</summary>
    /// <exception cref="ArgumentException">Not one of <c>auto</c>, <c>fp32</c>, <c>mixed</c>, <c>bf16</c>.</exception>
    public static PrecisionMode Parse(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "auto" => PrecisionMode.Auto,
        "fp32" or "float32" => PrecisionMode.Float32,
        "mixed" or "mixed-bf16" => PrecisionMode.MixedBFloat16,
        "bf16" or "bfloat16" => PrecisionMode.BFloat16,
        _ => throw new ArgumentException($"precision must be auto, fp32, mixed or bf16, got '{name}'", nameof(name)),
    };

    private static PrecisionMode Settled(PrecisionMode mode) => mode != PrecisionMode.Auto ? mode
        : throw new ArgumentException("PrecisionMode.Auto has no dtype until it is settled for a device: call Precision.Choose first", nameof(mode));
}
