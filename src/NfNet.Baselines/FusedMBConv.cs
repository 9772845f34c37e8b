using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BatchNorm2d = NfNet.Layers.BatchNorm2d;

namespace NfNet.Models.Baselines;

/// <summary>
/// EfficientNetV2's Fused-MBConv (automl <c>FusedMBConvBlock</c>), mid = in · expansion:
/// <code>
/// expansion &gt; 1:  h = conv_exp (k×k in→mid, stride) → bn1 → SiLU → conv_pwl (1×1 mid→out) → bn2   (no activation)
/// expansion = 1:  h = conv (k×k in→out, stride) → bn1 → SiLU                                       (timm's ConvBnAct "_skip")
/// y = x + drop_path(h)   when stride = 1 and in = out, else h
/// </code>
/// V2 uses no Squeeze-Excite in fused blocks.
/// </summary>
public sealed class FusedMBConv : nn.Module<Tensor, Tensor>, IMacCounted
{
    private readonly GuardedConv2d conv_exp;
    private readonly BatchNorm2d bn1;
    private readonly GuardedConv2d? conv_pwl;
    private readonly BatchNorm2d? bn2;
    private readonly StochasticDepth drop_path;

    /// <summary>Creates the block.</summary>
    public FusedMBConv(int inChannels, int outChannels, int expansion, int kernelSize, int stride, double dropPathRate,
        EfficientNetV2Config c, Device? device = null) : base(nameof(FusedMBConv))
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        Stride = stride;
        var mid = expansion == 1 ? outChannels : inChannels * expansion;
        MidChannels = mid;
        conv_exp = new GuardedConv2d(inChannels, mid, kernelSize, stride, kernelSize / 2, device: device);
        bn1 = new BatchNorm2d(mid, c.BatchNormEps, c.BatchNormMomentum, device: device);
        if (expansion != 1)
        {
            conv_pwl = new GuardedConv2d(mid, outChannels, 1, device: device);
            bn2 = new BatchNorm2d(outChannels, c.BatchNormEps, c.BatchNormMomentum, device: device);
        }
        drop_path = new StochasticDepth(dropPathRate, StochasticDepthMode.Timm);
        HasResidual = stride == 1 && inChannels == outChannels;
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Hidden channels (the output channels when expansion is 1).</summary>
    public int MidChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Stride of the k×k conv.</summary>
    public int Stride { get; }
    /// <summary>Whether the input is added back (stride 1 and in = out).</summary>
    public bool HasResidual { get; }
    /// <summary>Whether this is the single-conv form (expansion 1).</summary>
    public bool IsSingleConv => conv_pwl is null;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(bn1.call(conv_exp.call(x)));
        if (conv_pwl is not null) h = bn2!.call(conv_pwl.call(h));
        if (HasResidual) h = drop_path.call(h).PlusInPlace(x);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>MACs for one image at <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        var macs = conv_exp.CountMacs(h, w);
        var (oh, ow) = conv_exp.OutputSize(h, w);
        if (conv_pwl is not null) macs += conv_pwl.CountMacs(oh, ow);
        return (macs, oh, ow);
    }
}
