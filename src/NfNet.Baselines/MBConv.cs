using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BatchNorm2d = NfNet.Layers.BatchNorm2d;

namespace NfNet.Models.Baselines;

/// <summary>
/// EfficientNet's inverted-residual block (automl <c>MBConvBlock</c>), mid = in · expansion:
/// <code>
/// h = conv_pw (1×1 in→mid) → bn1 → SiLU        (skipped when expansion = 1)
/// h = conv_dw (k×k depthwise, stride) → bn2 → SiLU
/// h = se(h)                                     (mean → 1×1 mid→r, bias → SiLU → 1×1 r→mid, bias → sigmoid → ×; r = max(1, ⌊in · ratio⌋))
/// h = conv_pwl (1×1 mid→out) → bn3              (no activation)
/// y = x + drop_path(h)   when stride = 1 and in = out, else h
/// </code>
/// </summary>
public sealed class MBConv : nn.Module<Tensor, Tensor>, IMacCounted
{
    private readonly GuardedConv2d? conv_pw;
    private readonly BatchNorm2d? bn1;
    private readonly GuardedConv2d conv_dw;
    private readonly BatchNorm2d bn2;
    private readonly SqueezeExcite? se;
    private readonly GuardedConv2d conv_pwl;
    private readonly BatchNorm2d bn3;
    private readonly StochasticDepth drop_path;

    /// <summary>Creates the block.</summary>
    public MBConv(int inChannels, int outChannels, int expansion, int kernelSize, int stride, double seRatio, double dropPathRate,
        EfficientNetV2Config c, Device? device = null) : base(nameof(MBConv))
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        Stride = stride;
        var mid = inChannels * expansion;
        MidChannels = mid;
        if (expansion != 1)
        {
            conv_pw = new GuardedConv2d(inChannels, mid, 1, device: device);
            bn1 = new BatchNorm2d(mid, c.BatchNormEps, c.BatchNormMomentum, device: device);
        }
        conv_dw = new GuardedConv2d(mid, mid, kernelSize, stride, kernelSize / 2, groups: mid, device: device);
        // automl's fan-out for a depthwise kernel is k·k (PyTorch's would be mid·k·k).
        if (!conv_dw.Weight.is_meta) using (no_grad()) nn.init.normal_(conv_dw.Weight, 0, Math.Sqrt(2.0 / (kernelSize * kernelSize)));
        bn2 = new BatchNorm2d(mid, c.BatchNormEps, c.BatchNormMomentum, device: device);
        if (seRatio > 0) se = new SqueezeExcite(mid, Math.Max(1, (int)Math.Floor(inChannels * seRatio)), 1.0, device, ActivationKind.Silu);
        conv_pwl = new GuardedConv2d(mid, outChannels, 1, device: device);
        bn3 = new BatchNorm2d(outChannels, c.BatchNormEps, c.BatchNormMomentum, device: device);
        drop_path = new StochasticDepth(dropPathRate, StochasticDepthMode.Timm);
        HasResidual = stride == 1 && inChannels == outChannels;
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Hidden (expanded) channels.</summary>
    public int MidChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Stride of the depthwise conv.</summary>
    public int Stride { get; }
    /// <summary>Whether the input is added back (stride 1 and in = out).</summary>
    public bool HasResidual { get; }
    /// <summary>Squeeze-Excite width (0 without SE).</summary>
    public long SeChannels => se?.HiddenChannels ?? 0;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x;
        if (conv_pw is not null) h = nn.functional.silu(bn1!.call(conv_pw.call(h)));
        h = nn.functional.silu(bn2.call(conv_dw.call(h)));
        if (se is not null) h = se.call(h);
        h = bn3.call(conv_pwl.call(h));
        if (HasResidual) h = drop_path.call(h).PlusInPlace(x);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>MACs for one image at <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        var macs = conv_pw?.CountMacs(h, w) ?? 0;
        macs += conv_dw.CountMacs(h, w);
        var (oh, ow) = conv_dw.OutputSize(h, w);
        macs += (se?.CountMacs() ?? 0) + conv_pwl.CountMacs(oh, ow);
        return (macs, oh, ow);
    }
}
