using NfNet.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// The deep-quad stem of NFNet-F: four 3×3 WS convs, width/8 → width/4 → width/2 → width at strides 2, 1, 1, 2,
/// with a gamma-scaled activation between them and none after the last (timm <c>stem.conv1..4</c>, <c>act2..4</c>).
/// Output: <c>StemWidth</c> channels at 1/4 of the input resolution.
/// </summary>
public sealed class NFStem : nn.Module<Tensor, Tensor>
{
    private ScaledWSConv2d conv1;
    private ScaledActivation act2;
    private ScaledWSConv2d conv2;
    private ScaledActivation act3;
    private ScaledWSConv2d conv3;
    private ScaledActivation act4;
    private ScaledWSConv2d conv4;

    /// <summary>Builds the stem of <paramref name="config"/>.</summary>
    public NFStem(NFNetConfig config, Device? device = null) : base(nameof(NFStem))
    {
        var w = config.StemChannels;
        conv1 = config.Conv(config.InChannels, w / 8, 3, stride: 2, device: device);
        act2 = new ScaledActivation(config.Activation);
        conv2 = config.Conv(w / 8, w / 4, 3, device: device);
        act3 = new ScaledActivation(config.Activation);
        conv3 = config.Conv(w / 4, w / 2, 3, device: device);
        act4 = new ScaledActivation(config.Activation);
        conv4 = config.Conv(w / 2, w, 3, stride: 2, device: device);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = conv1.call(input);
        // Each activation's gamma is folded into the next conv's weight (exact: the conv is linear).
        x = conv2.call(act2.ForwardUnscaled(x), act2.Gamma);
        x = conv3.call(act3.ForwardUnscaled(x), act3.Gamma);
        x = conv4.call(act4.ForwardUnscaled(x), act4.Gamma);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>MACs for one <paramref name="h"/> × <paramref name="w"/> image; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        long macs = 0;
        foreach (var conv in new[] { conv1, conv2, conv3, conv4 })
        {
            macs += conv.CountMacs(h, w);
            (h, w) = conv.OutputSize(h, w);
        }
        return (macs, h, w);
    }
}
