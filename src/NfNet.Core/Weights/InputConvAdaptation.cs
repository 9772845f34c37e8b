using NfNet.Platform;
using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// Published RGB weights for a model with another number of input channels, as timm's <c>adapt_input_conv</c> makes
/// them: for 1 channel the first convolution's kernel is summed over its 3 input channels; for more than 3 its channels
/// are repeated (R, G, B, R, …) and the kernel scaled by 3 / channels, so that an input whose channels are alike gives
/// the same activations.
/// </summary>
public static class InputConvAdaptation
{
    /// <summary>The first conv's weight [O, 3, k, k] adapted to <paramref name="inChannels"/> input channels (a new tensor).</summary>
    /// <param name="weight">The published weight, [O, 3, kh, kw].</param>
    /// <param name="inChannels">The model's input channels (≥ 1).</param>
    /// <exception cref="ArgumentException">The weight does not take 3 channels, or <paramref name="inChannels"/> is not positive.</exception>
    public static Tensor Adapt(Tensor weight, int inChannels)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (inChannels < 1) throw new ArgumentException($"input channels must be positive, got {inChannels}", nameof(inChannels));
        if (weight.dim() != 4 || weight.size(1) != 3)
            throw new ArgumentException($"the first convolution's weight must be [O, 3, kh, kw] to adapt, got [{string.Join(", ", Shapes.Of(weight))}]", nameof(weight));
        using var scope = NewDisposeScope();
        var w = weight.to(ScalarType.Float32);
        Tensor adapted;
        if (inChannels == 1) adapted = w.sum(1, keepdim: true);
        else if (inChannels == 3) adapted = w.clone();
        else
        {
            var repeats = (inChannels + 2) / 3;
            using var repeated = w.repeat(1, repeats, 1, 1);
            using var first = repeated.narrow(1, 0, inChannels);
            adapted = first.Times(3.0 / inChannels);
        }
        return adapted.to(weight.dtype).contiguous().MoveToOuterDisposeScope();
    }
}
