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
    public static ScalarType ParameterType(PrecisionMode mode) =>
        mode == PrecisionMode.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary><paramref name="tensor"/> itself when it already has <paramref name="dtype"/>, else a cast copy (how layers
    /// meet float32 parameters with reduced-precision activations).</summary>
    internal static Tensor Match(Tensor tensor, ScalarType dtype) => tensor.dtype == dtype ? tensor : tensor.to(dtype);

    /// <summary>The dtype of the inputs (and activations) in <paramref name="mode"/>.</summary>
    public static ScalarType ComputeType(PrecisionMode mode) =>
        mode == PrecisionMode.Float32 ? ScalarType.Float32 : ScalarType.BFloat16;
}
