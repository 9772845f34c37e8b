using NfNet.Devices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models.Baselines;

/// <summary>LayerNorm over the channels of an NCHW map (each pixel normalized on its own), with an affine weight and bias.
/// Computes in the input's dtype (the parameters are cast for mixed precision).</summary>
public sealed class LayerNorm2d : nn.Module<Tensor, Tensor>
{
    private Parameter weight;
    private Parameter bias;
    private readonly long[] _shape;

    /// <summary>Creates the norm for <paramref name="channels"/> channels.</summary>
    public LayerNorm2d(long channels, double eps = 1e-5, Device? device = null) : base(nameof(LayerNorm2d))
    {
        Channels = channels;
        Eps = eps;
        _shape = new[] { channels };
        weight = new Parameter(ones(channels, device: device));
        bias = new Parameter(zeros(channels, device: device));
        RegisterComponents();
    }

    /// <summary>Channels.</summary>
    public long Channels { get; }
    /// <summary>Epsilon.</summary>
    public double Eps { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.permute(0, 2, 3, 1);
        x = nn.functional.layer_norm(x, _shape, Precision.Match(weight, input.dtype), Precision.Match(bias, input.dtype), Eps);
        return x.permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }
}
