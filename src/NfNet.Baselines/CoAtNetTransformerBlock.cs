using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Models.Baselines;

/// <summary>
/// CoAtNet's pre-norm Transformer block on an NCHW map:
/// <code>
/// x = shortcut(pool(x)) + drop_path(attn(pool(norm1(x))))     pool = avg 2×2 when strided; shortcut = 1×1 conv when the width changes
/// x = x + drop_path(mlp(norm2(x)))                              mlp = 1×1 C→ratio·C → GELU → 1×1 ratio·C→C (biases)
/// </code>
/// The attention is global with a relative-position bias (<see cref="RelativeAttention2d"/>).
/// </summary>
public sealed class CoAtNetTransformerBlock : nn.Module<Tensor, Tensor>, IMacCounted
{
    private readonly GuardedConv2d? shortcut;
    private readonly LayerNorm2d norm1;
    private readonly RelativeAttention2d attn;
    private readonly LayerNorm2d norm2;
    private readonly GuardedConv2d fc1;
    private readonly GuardedConv2d fc2;
    private readonly StochasticDepth drop_path;

    /// <summary>Creates the block for an output grid of <paramref name="gridH"/> × <paramref name="gridW"/> tokens.</summary>
    public CoAtNetTransformerBlock(int inChannels, int outChannels, int stride, long gridH, long gridW, double dropPathRate, CoAtNetConfig c,
        Device? device = null) : base(nameof(CoAtNetTransformerBlock))
    {
        if (stride is not (1 or 2)) throw new InvalidBaselineConfigException($"CoAtNetTransformerBlock: stride must be 1 or 2, got {stride}");
        InChannels = inChannels;
        OutChannels = outChannels;
        Stride = stride;
        if (inChannels != outChannels) shortcut = new GuardedConv2d(inChannels, outChannels, 1, hasBias: true, device: device);
        norm1 = new LayerNorm2d(inChannels, c.LayerNormEps, device);
        attn = new RelativeAttention2d(inChannels, outChannels, c.HeadDim, gridH, gridW, device);
        norm2 = new LayerNorm2d(outChannels, c.LayerNormEps, device);
        fc1 = new GuardedConv2d(outChannels, outChannels * c.MlpRatio, 1, hasBias: true, device: device);
        fc2 = new GuardedConv2d(outChannels * c.MlpRatio, outChannels, 1, hasBias: true, device: device);
        drop_path = new StochasticDepth(dropPathRate, StochasticDepthMode.Timm);
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Stride (1 or 2).</summary>
    public int Stride { get; }
    /// <summary>The attention.</summary>
    public RelativeAttention2d Attention => attn;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var sc = Stride == 2 ? nn.functional.avg_pool2d(x, 2, 2) : x;
        if (shortcut is not null) sc = shortcut.call(sc);
        var a = norm1.call(x);
        if (Stride == 2) a = nn.functional.avg_pool2d(a, 2, 2);
        var y = drop_path.call(attn.call(a)).PlusInPlace(sc);
        var m = fc2.call(nn.functional.gelu(fc1.call(norm2.call(y))));
        return y.Plus(drop_path.call(m)).MoveToOuterDisposeScope();
    }

    /// <summary>MACs for one image at <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        if (Stride == 2) (h, w) = (h / 2, w / 2);
        var macs = attn.CountMacs(h, w) + fc1.CountMacs(h, w) + fc2.CountMacs(h, w);
        if (shortcut is not null) macs += shortcut.CountMacs(h, w);
        return (macs, h, w);
    }
}
