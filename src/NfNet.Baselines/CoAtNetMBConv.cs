using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BatchNorm2d = NfNet.Layers.BatchNorm2d;

namespace NfNet.Models.Baselines;

/// <summary>
/// CoAtNet's pre-norm MBConv block, mid = expansion · out:
/// <code>
/// sc = shortcut(avg_pool2×2(x))  when strided (1×1 conv with bias), 1×1 conv when only the width changes, else x
/// h  = pre_norm (BN) → conv1 (1×1 in→mid) → bn1 → GELU → conv2 (3×3 depthwise, stride) → bn2 → GELU
///      → se (mid → ratio · out → mid, SiLU) → conv3 (1×1 mid→out, bias)
/// y  = sc + drop_path(h)
/// </code>
/// The stride sits in the depthwise conv (timm's layout).
/// </summary>
public sealed class CoAtNetMBConv : nn.Module<Tensor, Tensor>, IMacCounted
{
    private readonly GuardedConv2d? shortcut;
    private readonly BatchNorm2d pre_norm;
    private readonly GuardedConv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly GuardedConv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly SqueezeExcite se;
    private readonly GuardedConv2d conv3;
    private readonly StochasticDepth drop_path;

    /// <summary>Creates the block.</summary>
    public CoAtNetMBConv(int inChannels, int outChannels, int stride, double dropPathRate, CoAtNetConfig c, Device? device = null) : base(nameof(CoAtNetMBConv))
    {
        if (stride is not (1 or 2)) throw new InvalidBaselineConfigException($"CoAtNetMBConv: stride must be 1 or 2, got {stride}");
        InChannels = inChannels;
        OutChannels = outChannels;
        Stride = stride;
        var mid = outChannels * c.MBConvExpansion;
        if (stride != 1 || inChannels != outChannels) shortcut = new GuardedConv2d(inChannels, outChannels, 1, hasBias: true, device: device);
        pre_norm = new BatchNorm2d(inChannels, c.BatchNormEps, c.BatchNormMomentum, device: device);
        conv1 = new GuardedConv2d(inChannels, mid, 1, device: device);
        bn1 = new BatchNorm2d(mid, c.BatchNormEps, c.BatchNormMomentum, device: device);
        conv2 = new GuardedConv2d(mid, mid, 3, stride, 1, groups: mid, device: device);
        bn2 = new BatchNorm2d(mid, c.BatchNormEps, c.BatchNormMomentum, device: device);
        se = new SqueezeExcite(mid, Math.Max(1, (int)(outChannels * c.SeRatio)), 1.0, device, ActivationKind.Silu);
        conv3 = new GuardedConv2d(mid, outChannels, 1, hasBias: true, device: device);
        drop_path = new StochasticDepth(dropPathRate, StochasticDepthMode.Timm);
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Stride (1 or 2).</summary>
    public int Stride { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var sc = x;
        if (Stride == 2) sc = nn.functional.avg_pool2d(sc, 2, 2);
        if (shortcut is not null) sc = shortcut.call(sc);
        var h = conv1.call(pre_norm.call(x));
        h = nn.functional.gelu(bn1.call(h));
        h = nn.functional.gelu(bn2.call(conv2.call(h)));
        h = conv3.call(se.call(h));
        return drop_path.call(h).PlusInPlace(sc).MoveToOuterDisposeScope();
    }

    /// <summary>MACs for one image at <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        var macs = conv1.CountMacs(h, w) + conv2.CountMacs(h, w);
        var (oh, ow) = conv2.OutputSize(h, w);
        macs += se.CountMacs() + conv3.CountMacs(oh, ow);
        if (shortcut is not null) macs += shortcut.CountMacs(oh, ow);
        return (macs, oh, ow);
    }
}
