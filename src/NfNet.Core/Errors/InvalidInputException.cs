using NfNet.Devices;
using NfNet.Platform;
using static TorchSharp.torch;

namespace NfNet;

/// <summary>
/// A tensor passed to a model or layer has the wrong rank, channel count, element type or device.
/// The message says what was expected and what came, e.g. <c>expected input [N, 3, H, W], got [3, 224, 224]</c>.
/// </summary>
public sealed class InvalidInputException : ArgumentException
{
    /// <summary>Creates the exception with a message naming the expected and the actual shape.</summary>
    public InvalidInputException(string message, string? paramName = null) : base(message, paramName) { }

    internal static string Describe(long[] shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>
    /// The checks every model runs on its input: a non-empty 4-D floating tensor [N, <paramref name="channels"/>, H, W] on
    /// <paramref name="weight"/>'s device, in its dtype or (float32 weights) a bf16/fp16 one for mixed precision.
    /// </summary>
    internal static void ThrowIfNotImageBatch(Tensor input, string model, long channels, Tensor weight)
    {
        if (input.dim() != 4 || input.size(1) != channels)
            throw new InvalidInputException($"{model} expected input [N, {channels}, H, W], got {Describe(Shapes.Of(input))}", nameof(input));
        if (!input.is_floating_point())
            throw new InvalidInputException($"{model} expected a floating-point image tensor, got {input.dtype}", nameof(input));
        if (input.dtype != weight.dtype && !Precision.IsMixed(weight.dtype, input.dtype))
            throw new InvalidInputException(
                $"{model} has {weight.dtype} weights and expected a {weight.dtype} input (or a bfloat16/float16 one " +
                $"for mixed precision with float32 weights), got {input.dtype}", nameof(input));
        if ((input.device_type != weight.device_type || input.device_index != weight.device_index) && !weight.is_meta)
            throw new InvalidInputException($"{model} is on {weight.device} and expected an input there, got one on {input.device}", nameof(input));
        if (input.size(0) == 0 || input.size(2) == 0 || input.size(3) == 0)
            throw new InvalidInputException($"{model} expected a non-empty batch of non-empty images, got {Describe(Shapes.Of(input))}", nameof(input));
    }
}
