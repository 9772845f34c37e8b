using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// The Frobenius norm of each output unit of a parameter (Brock et al. 2021, §4.1): over every dimension but the
/// first for rank ≥ 2 (conv kernels [O, I, kh, kw], linear weights [O, I]), over the whole tensor for scalars and
/// vectors (biases, <c>skipinit_gain</c>). Returned with kept dimensions, so it broadcasts against the tensor.
/// </summary>
public static class UnitwiseNorm
{
    /// <summary>Unit-wise norms of <paramref name="x"/>; <paramref name="gains"/> decides for [O, 1, 1, 1] gains.</summary>
    public static Tensor Of(Tensor x, GainClipping gains = GainClipping.Elementwise)
    {
        if (IsWhole(x, gains))
            return x.VectorNorm2();
        var dims = Enumerable.Range(1, (int)x.dim() - 1).Select(d => (long)d).ToArray();
        return x.VectorNorm2(dims, keepdim: true);
    }

    /// <summary>Whether <paramref name="x"/> is one unit as a whole (scalars, vectors, and gains under
    /// <see cref="GainClipping.WholeVector"/>) rather than one unit per output channel.</summary>
    public static bool IsWhole(Tensor x, GainClipping gains = GainClipping.Elementwise) =>
        x.dim() <= 1 || (gains == GainClipping.WholeVector && IsChannelVector(x));

    /// <summary>A tensor of shape [O, 1, …, 1]: a per-channel vector stored with trailing unit dimensions.</summary>
    public static bool IsChannelVector(Tensor x) => x.dim() >= 2 && Shapes.Of(x).Skip(1).All(d => d == 1);
}
