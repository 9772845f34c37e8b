using NfNet.Models.Baselines;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Baselines.Tests;

public sealed class CoAtNetTests
{
    // The layout counted by hand (spec (c)): stem, MBConv (pre-norm BN, 1×1 expand ×4, BN, DW 3×3, BN, SE ⌊out/4⌋, 1×1 + bias;
    // pool + 1×1 projection with bias when the size or width changes) and Transformer blocks (LN, qkv with bias,
    // a heads × (2g − 1)² table, proj, LN, MLP ×4 with biases), head LN + linear.
    private static long MBConvParams(long i, long o, bool project)
    {
        long m = 4 * o, rd = o / 4;
        return (project ? i * o + o : 0) + 2 * i + i * m + 2 * m + 9 * m + 2 * m + (m * rd + rd) + (rd * m + m) + m * o + o;
    }

    private static long TransformerParams(long i, long o, long grid)
    {
        var heads = o / 32;
        return (i != o ? i * o + o : 0) + 2 * i + (i * 3 * o + 3 * o) + heads * (2 * grid - 1) * (2 * grid - 1) + (o * o + o) + 2 * o
            + (o * 4 * o + 4 * o) + (4 * o * o + o);
    }

    [Fact]
    public void CoAtNet0MatchesAHandCountOfParametersAndMacs()
    {
        using var model = CoAtNet.CoAtNet0(device: META);
        long expected = 3 * 64 * 9 + 2 * 64 + (64 * 64 * 9 + 64);
        long[] widths = { 96, 192, 384, 768 }, depths = { 2, 3, 5, 2 }, grids = { 56, 28, 14, 7 };
        long c = 64;
        for (var s = 0; s < 4; s++)
            for (var b = 0; b < depths[s]; b++)
            {
                expected += s < 2 ? MBConvParams(c, widths[s], b == 0 || c != widths[s]) : TransformerParams(c, widths[s], grids[s]);
                c = widths[s];
            }
        expected += 2 * 768 + 768 * 1000 + 1000;
        Assert.Equal(24_446_292L, expected); // spec: ≈24.4M with a plain head
        Assert.Equal(expected, model.ParameterCount());
        // Spec (c): 4.55 GMACs with the stride in the depthwise conv (timm's layout).
        Assert.Equal(4_545_917_952L, model.CountMacs(224, 224));
        var attention = model.Blocks.OfType<CoAtNetTransformerBlock>().Select(t => t.Attention).ToList();
        Assert.Equal(new long[] { 12, 27 * 27 }, attention[0].BiasTable.shape);
        Assert.Equal(new long[] { 24, 13 * 13 }, attention[^1].BiasTable.shape);
    }

    [Fact]
    public void RelativePositionIndexMatchesTheFormulaOnATwoByTwoGrid()
    {
        // Tokens (0,0), (0,1), (1,0), (1,1); Δ(i, j) = (rᵢ − rⱼ + 1)·3 + (cᵢ − cⱼ + 1).
        using var index = RelativeAttention2d.RelativePositionIndex(2, 2);
        long[,] expected = { { 4, 3, 1, 0 }, { 5, 4, 2, 1 }, { 7, 6, 4, 3 }, { 8, 7, 5, 4 } };
        for (var i = 0; i < 4; i++)
            for (var j = 0; j < 4; j++)
                Assert.Equal(expected[i, j], index[i, j].ReadInt64());
    }

    [Fact]
    public void AttentionEqualsAHandComputationInDouble()
    {
        manual_seed(5);
        using var attn = new RelativeAttention2d(8, 64, 32, 2, 2); // 2 heads of 32 on a 2×2 grid
        using var x = randn(1, 8, 2, 2);
        using (no_grad()) attn.BiasTable.normal_(0, 1);             // a visible bias
        using var y = attn.forward(x);

        var sd = attn.state_dict();
        double[,] Wqkv = Matrix(sd["qkv.weight"].reshape(192, 8)), Wp = Matrix(sd["proj.weight"].reshape(64, 64)), table = Matrix(sd["relative_position_bias_table"]);
        double[] bqkv = Vector(sd["qkv.bias"]), bp = Vector(sd["proj.bias"]);
        var tokens = Matrix(x.reshape(8, 4).t());                   // [4 tokens, 8]
        long[,] delta = { { 4, 3, 1, 0 }, { 5, 4, 2, 1 }, { 7, 6, 4, 3 }, { 8, 7, 5, 4 } };
        var qkv = new double[4, 192];
        for (var t = 0; t < 4; t++)
            for (var o = 0; o < 192; o++)
            {
                var acc = bqkv[o];
                for (var i = 0; i < 8; i++) acc += Wqkv[o, i] * tokens[t, i];
                qkv[t, o] = acc;
            }
        var merged = new double[4, 64];
        for (var h = 0; h < 2; h++)
            for (var i = 0; i < 4; i++)
            {
                var logits = new double[4];
                for (var j = 0; j < 4; j++)
                {
                    double dot = 0;
                    for (var d = 0; d < 32; d++) dot += qkv[i, h * 32 + d] * qkv[j, 64 + h * 32 + d];
                    logits[j] = dot / Math.Sqrt(32) + table[h, delta[i, j]];
                }
                var max = logits.Max();
                var e = logits.Select(l => Math.Exp(l - max)).ToArray();
                var z = e.Sum();
                for (var d = 0; d < 32; d++)
                {
                    double acc = 0;
                    for (var j = 0; j < 4; j++) acc += e[j] / z * qkv[j, 128 + h * 32 + d];
                    merged[i, h * 32 + d] = acc;
                }
            }
        for (var t = 0; t < 4; t++)
            for (var o = 0; o < 64; o++)
            {
                var acc = bp[o];
                for (var i = 0; i < 64; i++) acc += Wp[o, i] * merged[t, i];
                Assert.Equal(acc, y[0, o, t / 2, t % 2].ReadDouble(), 4);
            }
    }

    private static double[,] Matrix(Tensor t)
    {
        var a = t.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        long r = t.shape[0], c = t.shape[1];
        var m = new double[r, c];
        for (var i = 0; i < r; i++) for (var j = 0; j < c; j++) m[i, j] = a[i * c + j];
        return m;
    }

    private static double[] Vector(Tensor t) => t.to(ScalarType.Float64).data<double>().ToArray();

    [Fact]
    public void TinyCoAtNetTrainsForwardAtAnotherResolutionAndRejectsSmallImages()
    {
        manual_seed(2);
        var config = new CoAtNetConfig
        {
            StemWidth = 16, StemStride = 1, Widths = new[] { 16, 32, 64, 64 }, Depths = new[] { 1, 1, 2, 1 },
            NumClasses = 10, InChannels = 1, ImageSize = 32
        };
        using var model = new CoAtNet(config);
        model.train();
        using var y = model.call(randn(2, 1, 32, 32));
        Assert.Equal(new long[] { 2, 10 }, y.shape);
        y.sum().backward();
        Assert.All(model.parameters(), p => Assert.True(p.grad is { } g && double.IsFinite(g.norm().ReadDouble()), "every parameter has a finite gradient"));
        model.eval();
        using (no_grad())
            Assert.Equal(new long[] { 1, 10 }, model.call(randn(1, 1, 48, 48)).shape); // tables resized to the 3×3 grid
        Assert.Throws<InvalidInputException>(() => model.call(randn(1, 1, 8, 8)));
        Assert.Throws<InvalidBaselineConfigException>(() => new CoAtNet(config with { Widths = new[] { 16, 32, 48, 64 } }));
    }
}
