using NfNet.Devices;
using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models.Baselines;

/// <summary>
/// Global multi-head self-attention over an NCHW map with a learned 2-D relative-position bias added to the logits
/// before the softmax (CoAtNet Eq. 3): <c>softmax(q·kᵀ/√d + w[h, Δ(i, j)]) v</c>, where
/// <c>Δ(i, j) = (rᵢ − rⱼ + H − 1)(2W − 1) + (cᵢ − cⱼ + W − 1)</c> for row-major tokens. The table
/// <c>relative_position_bias_table</c> is [heads, (2H − 1)(2W − 1)] for the configured grid (trunc-normal std 0.02);
/// on another grid it is resized bilinearly as a (2H − 1) × (2W − 1) image. q, k, v come from one 1×1 conv
/// (<c>qkv</c>, bias) and the heads are merged by a 1×1 conv (<c>proj</c>, bias).
/// </summary>
public sealed class RelativeAttention2d : nn.Module<Tensor, Tensor>
{
    private GuardedConv2d qkv;
    private Parameter relative_position_bias_table;
    private GuardedConv2d proj;
    private readonly IndexCache _indices = new();

    private sealed class IndexCache
    {
        public readonly Dictionary<(long, long, DeviceType, int), Tensor> Items = new();
    }

    /// <summary>Creates the attention for <paramref name="inChannels"/> → <paramref name="outChannels"/> on a
    /// <paramref name="gridH"/> × <paramref name="gridW"/> token grid.</summary>
    public RelativeAttention2d(long inChannels, long outChannels, long headDim, long gridH, long gridW, Device? device = null) : base(nameof(RelativeAttention2d))
    {
        if (outChannels % headDim != 0) throw new InvalidBaselineConfigException($"RelativeAttention2d: {outChannels} channels are not a multiple of the head width {headDim}");
        if (gridH <= 0 || gridW <= 0) throw new InvalidBaselineConfigException($"RelativeAttention2d: grid {gridH}×{gridW} must be positive");
        InChannels = inChannels;
        OutChannels = outChannels;
        Heads = outChannels / headDim;
        HeadDim = headDim;
        GridH = gridH;
        GridW = gridW;
        qkv = new GuardedConv2d(inChannels, 3 * outChannels, 1, hasBias: true, device: device);
        proj = new GuardedConv2d(outChannels, outChannels, 1, hasBias: true, device: device);
        relative_position_bias_table = new Parameter(zeros(new[] { Heads, (2 * gridH - 1) * (2 * gridW - 1) }, device: device));
        if (!relative_position_bias_table.is_meta) using (no_grad()) nn.init.trunc_normal_(relative_position_bias_table, std: 0.02);
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public long InChannels { get; }
    /// <summary>Output channels.</summary>
    public long OutChannels { get; }
    /// <summary>Heads.</summary>
    public long Heads { get; }
    /// <summary>Head width.</summary>
    public long HeadDim { get; }
    /// <summary>Token grid height the table is sized for.</summary>
    public long GridH { get; }
    /// <summary>Token grid width the table is sized for.</summary>
    public long GridW { get; }
    /// <summary>The learned bias table [heads, (2H − 1)(2W − 1)].</summary>
    public Parameter BiasTable => relative_position_bias_table;

    /// <summary>The [HW, HW] index of each query/key pair into a (2H − 1)(2W − 1) table (row-major tokens).</summary>
    public static Tensor RelativePositionIndex(long h, long w, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var rows = Scalars.Arange(h, device: device).repeat_interleave(w);          // r of token t = t / w
        var cols = Scalars.Arange(w, device: device).repeat(h);                     // c of token t = t % w
        var dr = (rows.unsqueeze(1) - rows.unsqueeze(0)).Plus(h - 1);
        var dc = (cols.unsqueeze(1) - cols.unsqueeze(0)).Plus(w - 1);
        return dr.Times(2 * w - 1).Plus(dc).MoveToOuterDisposeScope();
    }

    /// <summary>The bias [heads, HW, HW] for an <paramref name="h"/> × <paramref name="w"/> grid, in <paramref name="dtype"/>.</summary>
    public Tensor Bias(long h, long w, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        Tensor table = relative_position_bias_table;
        if (h != GridH || w != GridW)
            table = nn.functional.interpolate(table.reshape(1, Heads, 2 * GridH - 1, 2 * GridW - 1), new[] { 2 * h - 1, 2 * w - 1 },
                mode: InterpolationMode.Bilinear, align_corners: false).reshape(Heads, -1);
        var key = (h, w, table.device_type, table.device_index);
        if (!_indices.Items.TryGetValue(key, out var index))
        {
            index = RelativePositionIndex(h, w, table.device).reshape(-1).DetachFromDisposeScope();
            _indices.Items[key] = index;
        }
        var bias = table.index_select(1, index).reshape(Heads, h * w, h * w);
        return Precision.Match(bias, dtype).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        long n = input.size(0), h = input.size(2), w = input.size(3), l = h * w;
        var x = qkv.call(input).reshape(n, 3, Heads, HeadDim, l);
        var q = x.select(1, 0).transpose(-1, -2);                             // [N, heads, L, d]
        var k = x.select(1, 1);                                               // [N, heads, d, L]
        var v = x.select(1, 2).transpose(-1, -2);                             // [N, heads, L, d]
        var logits = q.matmul(k).TimesInPlace(1.0 / Math.Sqrt(HeadDim)).PlusInPlace(Bias(h, w, input.dtype));
        var attn = logits.softmax(-1);
        var y = attn.matmul(v).transpose(-1, -2).reshape(n, OutChannels, h, w);
        return proj.call(y).MoveToOuterDisposeScope();
    }

    /// <summary>MACs for one image on an <paramref name="h"/> × <paramref name="w"/> grid: qkv, q·kᵀ, attn·v and proj.</summary>
    public long CountMacs(long h, long w)
    {
        var l = h * w;
        return l * InChannels * 3 * OutChannels + 2 * l * l * OutChannels + l * OutChannels * OutChannels;
    }
}
