using NfNet.Devices;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// Squeeze-and-Excite (Hu et al. 2018) as NFNets use it: global average pool, 1×1 conv C→hidden (bias), plain ReLU,
/// 1×1 conv hidden→C (bias), sigmoid, and the gate times <see cref="Gain"/> (2 in NFNets, the "×2" of Brock et al.
/// 2021, §4.1) multiplies the input. Neither FC is weight-standardized and neither nonlinearity is gamma-scaled.
/// </summary>
/// <remarks>The FCs are 1×1 <see cref="Conv2d"/>s named <c>fc1</c>/<c>fc2</c>, so weights have timm's 4-D shapes
/// <c>[hidden, C, 1, 1]</c> and <c>[C, hidden, 1, 1]</c>. Init: N(0, 1/fan_in) weights, zero biases.</remarks>
public sealed class SqueezeExcite : nn.Module<Tensor, Tensor>, IChannelGate
{
    private Conv2d fc1;
    private Conv2d fc2;

    /// <summary>Creates the module for <paramref name="channels"/> channels with <paramref name="hiddenChannels"/> in the bottleneck.</summary>
    /// <param name="channels">Channels in and out.</param>
    /// <param name="hiddenChannels">Bottleneck width.</param>
    /// <param name="gain">Multiplier of the gate (2 in NFNets).</param>
    /// <param name="device">Where to create the parameters.</param>
    /// <param name="activation">The hidden nonlinearity, unscaled (ReLU in NFNets, SiLU in EfficientNets).</param>
    public SqueezeExcite(long channels, long hiddenChannels, double gain = 1.0, Device? device = null, ActivationKind activation = ActivationKind.Relu)
        : base(nameof(SqueezeExcite))
    {
        if (channels <= 0 || hiddenChannels <= 0)
            throw new InvalidNFNetConfigException($"SqueezeExcite needs positive channels, got channels={channels}, hidden={hiddenChannels}");
        Channels = channels;
        HiddenChannels = hiddenChannels;
        Gain = gain;
        Activation = activation;
        fc1 = nn.Conv2d(channels, hiddenChannels, 1, bias: true, device: device);
        fc2 = nn.Conv2d(hiddenChannels, channels, 1, bias: true, device: device);
        foreach (var fc in new[] { fc1, fc2 })
        {
            nn.init.normal_(fc.weight!, 0.0, 1.0 / Math.Sqrt(fc.weight!.size(1)));
            nn.init.zeros_(fc.bias!);
        }
        RegisterComponents();
    }

    /// <summary>Channels in and out.</summary>
    public long Channels { get; }
    /// <summary>Bottleneck width.</summary>
    public long HiddenChannels { get; }
    /// <summary>Multiplier of the sigmoid gate (2 in NFNets).</summary>
    public double Gain { get; }
    /// <summary>The hidden nonlinearity (unscaled).</summary>
    public ActivationKind Activation { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var gate = Gate(input);
        return input * gate;
    }

    /// <summary>
    /// The per-channel gate <c>Gain · sigmoid(fc2(act(fc1(mean(input)))))</c>, [N, C, 1, 1], that
    /// <see cref="forward"/> multiplies the input by. A caller with more per-sample or scalar factors for the same
    /// tensor (an NFNet block: stochastic depth and the residual gain) multiplies them into this small tensor first.
    /// </summary>
    /// <param name="input">[N, <see cref="Channels"/>, H, W].</param>
    public Tensor Gate(Tensor input)
    {
        using var scope = NewDisposeScope();
        var s = input.mean(new long[] { 2, 3 }, keepdim: true);
        s = ScaledActivation.Apply(Activation, Fc(fc1, s));
        s = nn.functional.sigmoid(Fc(fc2, s));
        if (Gain != 1.0) s = s.Times(Gain); // exact for the power-of-two gain 2, and cheaper on the [N, C, 1, 1] gate
        return s.MoveToOuterDisposeScope();
    }

    private static readonly long[] Ones = { 1, 1 };
    private static readonly long[] Zeros = { 0, 0 };

    // Through the guard: bf16 1×1 convs with narrow channels are wrong on libtorch 2.10 CPUs (see ConvolutionBackend).
    // Mixed precision: parameters are cast to the input's dtype.
    private static Tensor Fc(Conv2d fc, Tensor x)
    {
        var b = fc.bias is null ? null : Precision.Match(fc.bias, x.dtype);
        return ConvolutionBackend.Conv2d(x, Precision.Match(fc.weight!, x.dtype), b, Ones, Zeros, Ones, 1);
    }

    /// <summary>Multiply-accumulates of the two FCs for one image.</summary>
    public long CountMacs() => 2 * Channels * HiddenChannels;
}
