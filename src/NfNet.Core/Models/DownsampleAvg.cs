using NfNet.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// The shortcut of a transition block: 2×2 average pool at stride 2 (ceil mode, edge windows averaged over valid
/// pixels only, i.e. TF "SAME" pooling) when the block strides, then a 1×1 WS conv. In a dilated stage (output stride
/// 16 or 8) the pool keeps the resolution instead: 2×2 at stride 1 over the input padded with one row and column of
/// zeros at the end (timm's <c>AvgPool2dSame</c>). timm: <c>DownsampleAvg</c>.
/// </summary>
public sealed class DownsampleAvg : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> pool;
    private ScaledWSConv2d conv;

    /// <summary>Creates the shortcut for <paramref name="spec"/>'s channels and stride.</summary>
    public DownsampleAvg(NFBlockSpec spec, NFNetConfig config, Device? device = null) : base(nameof(DownsampleAvg))
    {
        Stride = spec.Stride;
        pool = spec.Stride > 1
            ? nn.AvgPool2d(new long[] { 2, 2 }, new long[] { 2, 2 }, ceil_mode: true, count_include_pad: false)
            : spec.Dilation > 1 ? new SamePaddedAvgPool() : nn.Identity();
        conv = config.Conv(spec.InChannels, spec.OutChannels, 1, device: device);
        RegisterComponents();
    }

    /// <summary>Pooling stride (1: no pooling).</summary>
    public long Stride { get; }

    /// <summary>The 1×1 conv.</summary>
    public ScaledWSConv2d Conv => conv;

    /// <summary>The shortcut of <paramref name="input"/> (times the scale a <see cref="call(Tensor, double)"/> passed).</summary>
    public override Tensor forward(Tensor input) => forward(input, FoldedInputScale.For(this));

    /// <summary><see cref="forward(Tensor, double)"/> through <c>call()</c>, so that hooks on this module run.</summary>
    public Tensor call(Tensor input, double inputScale) => FoldedInputScale.Call(this, input, inputScale);

    /// <summary>The shortcut of <c>inputScale · input</c>, with the scale folded into the conv's weight (both steps are linear).</summary>
    public Tensor forward(Tensor input, double inputScale)
    {
        using var pooled = pool.call(input);
        return conv.call(pooled, inputScale);
    }

    /// <summary>MACs for one image whose input is <paramref name="h"/> × <paramref name="w"/> (pooling not counted).</summary>
    public long CountMacs(long h, long w) =>
        conv.CountMacs(SamePadding.OutputSize(h, Stride), SamePadding.OutputSize(w, Stride));

    // timm's AvgPool2dSame(2, stride 1): zeros padded after the last row and column (TF "SAME" for a 2×2 window), then
    // every window averaged over its 4 values, padding included.
    private sealed class SamePaddedAvgPool : nn.Module<Tensor, Tensor>
    {
        private static readonly long[] Kernel = { 2, 2 };
        private static readonly long[] Step = { 1, 1 };

        public SamePaddedAvgPool() : base("AvgPool2dSame") { }

        public override Tensor forward(Tensor input)
        {
            using var padded = nn.functional.pad(input, new long[] { 0, 1, 0, 1 });
            return nn.functional.avg_pool2d(padded, Kernel, Step);
        }
    }
}
