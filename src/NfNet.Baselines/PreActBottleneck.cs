using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models.Baselines;

/// <summary>The pre-activation bottleneck (NFNets repository): BN → ReLU → [projection] → 1×1 → BN → ReLU → 3×3 (strided)
/// → BN → ReLU → 1×1, + shortcut, no ReLU after the add.</summary>
public sealed class PreActBottleneck : nn.Module<Tensor, Tensor>, IMacCounted
{
    private readonly nn.Module<Tensor, Tensor> bn0, bn1, bn2;
    private readonly GuardedConv2d conv1, conv2, conv3;
    private readonly GuardedConv2d? downsample;

    /// <summary>Creates the block.</summary>
    public PreActBottleneck(int inChannels, int width, int stride, ResNetConfig c, Device? device = null) : base(nameof(PreActBottleneck))
    {
        var outChannels = width * c.Expansion;
        bn0 = c.Norm(inChannels, device);
        conv1 = new GuardedConv2d(inChannels, width, 1, device: device);
        bn1 = c.Norm(width, device);
        conv2 = new GuardedConv2d(width, width, 3, stride, 1, device: device);
        bn2 = c.Norm(width, device);
        conv3 = new GuardedConv2d(width, outChannels, 1, device: device);
        if (stride != 1 || inChannels != outChannels) downsample = new GuardedConv2d(inChannels, outChannels, 1, stride, device: device);
        RegisterComponents();
    }

    /// <summary>MACs for one image at <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        var macs = conv1.CountMacs(h, w) + conv2.CountMacs(h, w);
        var (oh, ow) = conv2.OutputSize(h, w);
        macs += conv3.CountMacs(oh, ow);
        if (downsample is not null) macs += downsample.CountMacs(h, w);
        return (macs, oh, ow);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var pre = nn.functional.relu(bn0.call(x));
        var shortcut = downsample is null ? x : downsample.call(pre);
        var h = nn.functional.relu(bn1.call(conv1.call(pre)));
        h = nn.functional.relu(bn2.call(conv2.call(h)));
        h = conv3.call(h);
        return h.Plus(shortcut).MoveToOuterDisposeScope();
    }
}
