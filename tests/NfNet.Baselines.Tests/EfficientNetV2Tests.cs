using NfNet.Models.Baselines;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Baselines.Tests;

public sealed class EfficientNetV2Tests
{
    [Fact]
    public void SAndB0HaveTheExactParameterCounts()
    {
        using var s = EfficientNetV2.S(device: META);
        using var b0 = EfficientNetV2.B0(device: META);
        Assert.Equal(21_458_488L, s.ParameterCount());
        Assert.Equal(7_139_704L, b0.ParameterCount());
    }

    [Fact]
    public void SHasTheSpecsBlockOrder()
    {
        using var s = EfficientNetV2.S(device: META);
        var blocks = s.Blocks;
        Assert.Equal(40, blocks.Count);
        Assert.All(blocks.Take(10), b => Assert.IsType<FusedMBConv>(b));
        Assert.All(blocks.Skip(10), b => Assert.IsType<MBConv>(b));
        // Stage 1 (e1, 24→24) is the single-conv form with a residual; the first block of stage 2 strides to 48.
        var first = (FusedMBConv)blocks[0];
        Assert.True(first.IsSingleConv && first.HasResidual);
        var stage2 = (FusedMBConv)blocks[2];
        Assert.Equal((24, 96, 48, 2, false), (stage2.InChannels, stage2.MidChannels, stage2.OutChannels, stage2.Stride, stage2.HasResidual));
        // The first MBConv (64→128, e4): SE width from the block input, ⌊64 · 0.25⌋ = 16, not from mid (256).
        var mb = (MBConv)blocks[10];
        Assert.Equal((64, 256, 128, 2, 16L), (mb.InChannels, mb.MidChannels, mb.OutChannels, mb.Stride, mb.SeChannels));
        using var b0 = EfficientNetV2.B0(device: META);
        Assert.Equal(21, b0.Blocks.Count);
        Assert.False(((FusedMBConv)b0.Blocks[0]).HasResidual); // 32 → 16
    }

    /// <summary>A tiny configuration with one block of each kind, counted by hand.</summary>
    private static EfficientNetV2Config Tiny => new()
    {
        Name = "tiny",
        StemWidth = 8,
        HeadWidth = 32,
        NumClasses = 5,
        InChannels = 3,
        StochasticDepthRate = 0,
        Stages = new EfficientNetV2Stage[]
        {
            new(EfficientNetBlockKind.FusedMBConv, 1, 3, 1, 0, 8, 1),
            new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 16, 1),
            new(EfficientNetBlockKind.MBConv, 4, 3, 2, 0.25, 24, 2),
        },
    };

    [Fact]
    public void TinyConfigMatchesAHandCountOfParametersShapesAndMacs()
    {
        manual_seed(0);
        using var model = new EfficientNetV2(Tiny);
        // stem 3·8·9 + BN 16 = 232
        // fused e1 8→8: 8·8·9 + 16 = 592
        // fused e4 8→16 (mid 32): 8·32·9 + 64 + 32·16 + 32 = 2,912
        // MBConv e4 16→24 s2 (mid 64, SE ⌊16/4⌋ = 4): 1,024 + 128 + 576 + 128 + (256 + 4) + (256 + 64) + 1,536 + 48 = 4,020
        // MBConv e4 24→24 (mid 96, SE 6): 2,304 + 192 + 864 + 192 + (576 + 6) + (576 + 96) + 2,304 + 48 = 7,158
        // head 24·32 + 64 = 832; classifier 32·5 + 5 = 165
        Assert.Equal(232 + 592 + 2_912 + 4_020 + 7_158 + 832 + 165, model.ParameterCount());
        Assert.Equal(new[] { true, false, false, true }, model.Blocks.Select(b => b is MBConv m ? m.HasResidual : ((FusedMBConv)b).HasResidual));

        // Shapes from 32×32: stem /2 → 16; fused e1 16; fused e4 /2 → 8; MBConv /2 → 4; MBConv 4.
        model.eval();
        using (no_grad())
        {
            var x = randn(2, 3, 32, 32);
            var expected = new[] { new long[] { 2, 8, 16, 16 }, new long[] { 2, 16, 8, 8 }, new long[] { 2, 24, 4, 4 }, new long[] { 2, 24, 4, 4 } };
            var h = nn.functional.silu(((nn.Module<Tensor, Tensor>)model.named_children().First(c => c.name == "bn1").module)
                .call(((nn.Module<Tensor, Tensor>)model.named_children().First(c => c.name == "conv_stem").module).call(x)));
            for (var i = 0; i < 4; i++)
            {
                h = model.Blocks[i].call(h);
                Assert.Equal(expected[i], h.shape);
            }
            Assert.Equal(new long[] { 2, 5 }, model.call(x).shape);
        }
        // MACs at 32: stem 16²·8·27 = 55,296; e1 16²·8·72 = 147,456; e4 8²·32·72 + 8²·16·32 = 180,224;
        // MB1 8²·16·64 + 4²·64·9 + 2·64·4 + 4²·64·24 = 99,840; MB2 4²·24·96 + 4²·96·9 + 2·96·6 + 4²·96·24 = 88,704;
        // head 4²·24·32 = 12,288; classifier 160.
        Assert.Equal(55_296 + 147_456 + 180_224 + 99_840 + 88_704 + 12_288 + 160, model.CountMacs(32, 32));
    }

    [Fact]
    public void MacCountsMatchTheSpec()
    {
        using var s = EfficientNetV2.S(device: META);
        using var b0 = EfficientNetV2.B0(device: META);
        // Spec (b): V2-S 8.37 GMACs at 384 and 5.31 at 300; V2-B0 0.72 at 224 (two decimals).
        Assert.Equal(8.37, s.CountMacs(384, 384) / 1e9, 2);
        Assert.Equal(5.31, s.CountMacs(300, 300) / 1e9, 2);
        Assert.Equal(0.72, b0.CountMacs(224, 224) / 1e9, 2);
    }

    [Fact]
    public void UsesTfBatchNormSettingsAndTrainsInTrainMode()
    {
        manual_seed(1);
        using var model = new EfficientNetV2(Tiny);
        var bns = model.modules().OfType<TorchSharp.Modules.BatchNorm>().ToList();
        Assert.Equal(1 + 1 + 2 + 2 * 3 + 1, bns.Count);
        model.train();
        using var x = randn(4, 3, 32, 32);
        using (no_grad()) model.call(x).Dispose();
        // After one training forward the stem BN's running mean is 0.99·0 + 0.01·(batch mean of the stem conv's output).
        var stem = (nn.Module<Tensor, Tensor>)model.named_children().First(c => c.name == "conv_stem").module;
        var bn1 = (TorchSharp.Modules.BatchNorm)model.named_children().First(c => c.name == "bn1").module;
        using (no_grad())
        {
            var batchMean = stem.call(x).mean(new long[] { 0, 2, 3 });
            Assert.True(bn1.running_mean!.allclose(batchMean.Times(0.01), rtol: 1e-4, atol: 1e-7));
        }
        Assert.All(bns, bn => Assert.True(bn.running_mean!.abs().max().ReadDouble() > 0));
        using var y = model.call(x);
        y.sum().backward();
        Assert.All(model.parameters(), p => Assert.True(p.grad is { } g && double.IsFinite(g.norm().ReadDouble()), "every parameter has a finite gradient"));
        Assert.Throws<InvalidInputException>(() => model.call(randn(1, 1, 32, 32)));
    }
}
