using NfNet.Layers;

namespace NfNet.Models;

/// <summary>
/// The constants of one NormFreeNet block, derived from an <see cref="NFNetConfig"/> by <see cref="Schedule"/>.
/// </summary>
/// <param name="Name">State-dict prefix, <c>stages.{s}.{b}</c>.</param>
/// <param name="Stage">Stage index.</param>
/// <param name="Index">Block index within the stage.</param>
/// <param name="GlobalIndex">Block index over the whole network.</param>
/// <param name="InChannels">Input channels.</param>
/// <param name="OutChannels">Output channels.</param>
/// <param name="MidChannels">Bottleneck width.</param>
/// <param name="Groups">Groups of the 3×3 convs (bottleneck / group width; 1 when dense).</param>
/// <param name="Stride">Stride of the first 3×3 conv (and the shortcut pool).</param>
/// <param name="Beta">1 / expected std of the block input (§4 of the paper; the running variance schedule).</param>
/// <param name="Alpha">Residual branch scale.</param>
/// <param name="SeChannels">Squeeze-Excite hidden width (0 without Squeeze-Excite).</param>
/// <param name="StochasticDepthRate">This block's drop rate.</param>
/// <param name="AttentionChannels">Channels the attention sees: the bottleneck's in a RegNet block (between the grouped
/// conv and the last 1×1 conv), the output's otherwise (after the last conv); 0 without attention.</param>
/// <param name="Dilation">Dilation of the block's second 3×3 conv (<c>conv2b</c>) and of the next blocks' (1 at output
/// stride 32).</param>
/// <param name="FirstDilation">Dilation of the block's first 3×3 conv (<c>conv2</c>): the stage's previous dilation
/// in its first block, as timm's <c>first_dilation</c>.</param>
/// <param name="NetStride">The network's stride after this block (the output's reduction).</param>
public sealed record NFBlockSpec(
    string Name, int Stage, int Index, int GlobalIndex, int InChannels, int OutChannels, int MidChannels, int Groups,
    int Stride, double Beta, double Alpha, int SeChannels, double StochasticDepthRate, int AttentionChannels = 0,
    int Dilation = 1, int FirstDilation = 1, int NetStride = 0)
{
    /// <summary>A transition block (first of its stage) has a shortcut conv: <c>stride &gt; 1 || in != out</c>, or a
    /// change of dilation.</summary>
    public bool IsTransition => Stride > 1 || InChannels != OutChannels || Dilation != FirstDilation;

    /// <summary>
    /// The per-block constants of <paramref name="config"/>, in order, as timm's <c>NormFreeNet</c> computes them. The
    /// expected variance starts at 1; each block gets <c>beta = 1/sqrt(var)</c>; after the first block of a stage var
    /// resets to 1; after every block var += alpha². Every stage's first block strides 2, except the first stage's when
    /// the stem already has stride 4, and the stages past the output stride, which dilate instead.
    /// </summary>
    public static IReadOnlyList<NFBlockSpec> Schedule(NFNetConfig config)
    {
        config.Validate();
        var specs = new List<NFBlockSpec>(config.BlockCount);
        var expectedVar = 1.0;
        var global = 0;
        var netStride = config.StemStride;
        var dilation = 1;
        using var inputs = config.BottleneckInputs().GetEnumerator();
        for (var s = 0; s < config.Depths.Count; s++)
        {
            // timm: a stage that would stride past the output stride dilates instead.
            var stageStride = s == 0 && config.StemStride > 2 ? 1 : 2;
            if (netStride >= config.OutputStride && stageStride > 1)
            {
                dilation *= stageStride;
                stageStride = 1;
            }
            netStride *= stageStride;
            var firstDilation = dilation is 1 or 2 ? 1 : 2;
            for (var b = 0; b < config.Depths[s]; b++)
            {
                inputs.MoveNext();
                var (_, inChannels, ratio) = inputs.Current;
                var outChannels = config.StageWidth(s);
                var (mid, groups) = config.Bottleneck(config.Reg ? inChannels : outChannels, ratio);
                var attention = string.IsNullOrEmpty(config.AttentionLayer) ? 0 : config.Reg ? mid : outChannels;
                var se = config.AttentionLayer == AttentionLayers.SqueezeExcite
                    ? Channels.MakeDivisible(attention * config.AttentionRatio, config.AttentionDivisor, roundLimit: 0.0)
                    : 0;
                specs.Add(new NFBlockSpec(
                    $"stages.{s}.{b}", s, b, global, inChannels, outChannels, mid, groups, b == 0 ? stageStride : 1,
                    Beta: 1.0 / Math.Sqrt(expectedVar), config.Alpha, se,
                    StochasticDepth.RateForBlock(config.StochasticDepthRate, global, config.BlockCount, config.StochasticDepthMode),
                    attention, dilation, firstDilation, netStride));
                if (b == 0) expectedVar = 1.0;
                expectedVar += config.Alpha * config.Alpha;
                firstDilation = dilation;
                global++;
            }
        }
        return specs;
    }
}
