using NfNet.Layers;

namespace NfNet.Models;

/// <summary>
/// The constants of one NF block, derived from an <see cref="NFNetConfig"/> by <see cref="Schedule"/>.
/// </summary>
/// <param name="Name">State-dict prefix, <c>stages.{s}.{b}</c>.</param>
/// <param name="Stage">Stage index.</param>
/// <param name="Index">Block index within the stage.</param>
/// <param name="GlobalIndex">Block index over the whole network.</param>
/// <param name="InChannels">Input channels.</param>
/// <param name="OutChannels">Output channels.</param>
/// <param name="MidChannels">Bottleneck width.</param>
/// <param name="Groups">Groups of the 3×3 convs (bottleneck / group width).</param>
/// <param name="Stride">Stride of the first 3×3 conv (and the shortcut pool).</param>
/// <param name="Beta">1 / expected std of the block input (§4 of the paper; the running variance schedule).</param>
/// <param name="Alpha">Residual branch scale.</param>
/// <param name="SeChannels">Squeeze-Excite hidden width.</param>
/// <param name="StochasticDepthRate">This block's drop rate.</param>
public sealed record NFBlockSpec(
    string Name, int Stage, int Index, int GlobalIndex, int InChannels, int OutChannels, int MidChannels, int Groups,
    int Stride, double Beta, double Alpha, int SeChannels, double StochasticDepthRate)
{
    /// <summary>A transition block (first of its stage) has a shortcut conv: <c>stride &gt; 1 || in != out</c>.</summary>
    public bool IsTransition => Stride > 1 || InChannels != OutChannels;

    /// <summary>
    /// The per-block constants of <paramref name="config"/>, in order. The expected variance starts at 1; each block
    /// gets <c>beta = 1/sqrt(var)</c>; after the first block of a stage var resets to 1; after every block var += alpha².
    /// </summary>
    public static IReadOnlyList<NFBlockSpec> Schedule(NFNetConfig config)
    {
        config.Validate();
        var specs = new List<NFBlockSpec>(config.BlockCount);
        var expectedVar = 1.0;
        var inChannels = config.StemChannels;
        var global = 0;
        for (var s = 0; s < config.Depths.Count; s++)
        {
            var mid = config.MidWidth(s);
            for (var b = 0; b < config.Depths[s]; b++)
            {
                var stride = b == 0 && s > 0 ? 2 : 1; // the stem already has stride 4
                specs.Add(new NFBlockSpec(
                    $"stages.{s}.{b}", s, b, global, inChannels, config.StageWidth(s), mid, config.Groups(s), stride,
                    Beta: 1.0 / Math.Sqrt(expectedVar), config.Alpha, config.SeWidth(s),
                    StochasticDepth.RateForBlock(config.StochasticDepthRate, global, config.BlockCount, config.StochasticDepthMode)));
                if (b == 0) expectedVar = 1.0;
                expectedVar += config.Alpha * config.Alpha;
                inChannels = config.StageWidth(s);
                global++;
            }
        }
        return specs;
    }
}
