using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BatchNorm2d = NfNet.Layers.BatchNorm2d;

namespace NfNet.Models.Baselines;

/// <summary>The post-activation (v1.5) bottleneck: 1×1 → BN → ReLU → 3×3 (strided) → BN → ReLU → 1×1 → BN, + shortcut, ReLU.</summary>
public sealed class BottleneckV15 : nn.Module<Tensor, Tensor>, IMacCounted
{
    private readonly GuardedConv2d conv1, conv2, conv3;
    private readonly nn.Module<Tensor, Tensor> bn1, bn2, bn3;
    private readonly Sequential? downsample;

    /// <summary>Creates the block.</summary>
    public BottleneckV15(int inChannels, int width, int stride, ResNetConfig c, Device? device = null) : base(nameof(BottleneckV15))
    {
        var outChannels = width * c.Expansion;
        conv1 = new GuardedConv2d(inChannels, width, 1, device: device);
        bn1 = c.Norm(width, device);
        conv2 = new GuardedConv2d(width, width, 3, stride, 1, device: device);
        bn2 = c.Norm(width, device);
        conv3 = new GuardedConv2d(width, outChannels, 1, device: device);
        bn3 = c.Norm(outChannels, device);
        if (c.ZeroInitLastGamma && bn3 is BatchNorm2d last && !last.weight!.is_meta) using (no_grad()) last.weight!.zero_();
        if (stride != 1 || inChannels != outChannels)
            downsample = nn.Sequential(new GuardedConv2d(inChannels, outChannels, 1, stride, device: device),
                c.Norm(outChannels, device));
        RegisterComponents();
    }

    /// <summary>MACs for one image at <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        var macs = conv1.CountMacs(h, w) + conv2.CountMacs(h, w);
        var (oh, ow) = conv2.OutputSize(h, w);
        macs += conv3.CountMacs(oh, ow);
        if (downsample is not null) macs += ((GuardedConv2d)downsample[0]).CountMacs(h, w);
        return (macs, oh, ow);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(bn1.call(conv1.call(x)));
        h = nn.functional.relu(bn2.call(conv2.call(h)));
        h = bn3.call(conv3.call(h));
        var shortcut = downsample is null ? x : downsample.call(x);
        return nn.functional.relu(h.Plus(shortcut)).MoveToOuterDisposeScope();
    }
}
