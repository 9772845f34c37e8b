using NfNet.Models.Baselines;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Baselines.Tests;

public sealed class BatchNormResNetTests
{
    [Theory]
    [InlineData(ResNetForm.PostActivationV15, 25_557_032L)]
    [InlineData(ResNetForm.PreActivation, 25_549_352L)]
    public void ResNet50HasTheExactParameterCount(ResNetForm form, long expected)
    {
        using var model = BatchNormResNet.ResNet50(form, device: META);
        Assert.Equal(expected, model.ParameterCount());
    }

    [Fact]
    public void ResNet50V15CountsFourPointZeroNineGigaMacsAt224()
    {
        using var model = BatchNormResNet.ResNet50(device: META);
        // Independent count (a short script over the spec's layout: stem 7×7/2 at 112², max-pool to 56², per block
        // 1×1 + strided 3×3 + 1×1, projections at the output size, fc 2048·1000): 4,089,184,256 = the spec's 4.09 G.
        Assert.Equal(4_089_184_256L, model.CountMacs(224, 224));
    }

    [Theory]
    [InlineData(ResNetForm.PostActivationV15)]
    [InlineData(ResNetForm.PreActivation)]
    public void AnyClassCountAndInputChannelsForward(ResNetForm form)
    {
        manual_seed(0);
        var config = new ResNetConfig
        {
            Form = form, Depths = new[] { 1, 1 }, Widths = new[] { 16, 32 }, StemWidth = 16,
            NumClasses = 7, InChannels = 1, StemPool = false
        };
        using var model = new BatchNormResNet(config);
        using var y = model.forward(randn(2, 1, 28, 28));
        Assert.Equal(new long[] { 2, 7 }, y.shape);
        Assert.Throws<InvalidInputException>(() => model.forward(randn(2, 3, 28, 28)));
    }

    [Fact]
    public void FullSizeResNet50TakesATrainingStepAtSmallResolution()
    {
        // Forward and backward through every block (the projections are strided 1×1 convolutions) at 64 px, batch 2.
        manual_seed(4);
        using var model = BatchNormResNet.ResNet50(numClasses: 10);
        model.train();
        using var y = model.forward(randn(2, 3, 64, 64));
        nn.functional.cross_entropy(y, tensor(new long[] { 1, 7 })).backward();
        Assert.All(model.parameters(), p => Assert.True(p.grad is not null && p.grad.isfinite().all().ReadBoolean()));
    }

    [Fact]
    public void BatchNormUsesBatchStatisticsInTrainAndRunningStatisticsInEval()
    {
        // One BN channel by hand: batch values 1, 2, 3, 6 → mean 3, biased var 3.5, unbiased var 14/3.
        using var bn = new NfNet.Layers.BatchNorm2d(1, eps: 1e-5, momentum: 0.1);
        using var x = tensor(new float[] { 1, 2, 3, 6 }).reshape(4, 1, 1, 1);
        bn.train();
        using var y = bn.call(x);
        Assert.Equal((1 - 3) / Math.Sqrt(3.5 + 1e-5), y[0, 0, 0, 0].ReadDouble(), 5);
        Assert.Equal(0.1 * 3, bn.running_mean!.ReadDouble(), 6);                 // 0.9·0 + 0.1·3
        Assert.Equal(0.9 + 0.1 * 14.0 / 3, bn.running_var!.ReadDouble(), 6);      // 0.9·1 + 0.1·(14/3), unbiased
        Assert.Equal(1, bn.num_batches_tracked!.ReadInt64());
        bn.eval();
        using var e = bn.call(x);
        Assert.Equal((1 - 0.3) / Math.Sqrt(0.9 + 1.4 / 3 + 1e-5), e[0, 0, 0, 0].ReadDouble(), 5);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(null)]   // the cumulative average: 1 / num_batches_tracked
    public void TheScalarSafeBatchNormEqualsTorchSharpsBatchNorm2d(double? momentum)
    {
        using var ours = new NfNet.Layers.BatchNorm2d(3, eps: 1e-5, momentum: momentum);
        using var theirs = nn.BatchNorm2d(3, eps: 1e-5, momentum: momentum ?? 0.1);
        if (momentum is null) theirs.momentum = null;
        Assert.Equal(theirs.state_dict().Keys, ours.state_dict().Keys);
        manual_seed(5);
        for (var step = 0; step < 3; step++)
        {
            using var x = randn(4, 3, 5, 5);
            using var a = ours.call(x);
            using var b = theirs.call(x);
            Assert.True(a.equal(b).all().ReadBoolean(), $"training step {step}: outputs differ");
        }
        foreach (var (name, t) in theirs.state_dict()) Assert.True(t.equal(ours.state_dict()[name]).all().ReadBoolean(), $"{name} differs");
        ours.eval();
        theirs.eval();
        using var z = randn(2, 3, 5, 5);
        using var ea = ours.call(z);
        using var eb = theirs.call(z);
        Assert.True(ea.equal(eb).all().ReadBoolean());
        Assert.Throws<InvalidInputException>(() => ours.call(randn(3, 5, 5)));
    }

    [Fact]
    public void InTrainModeAnImagesOutputDependsOnItsBatchmatesAndInEvalItDoesNot()
    {
        manual_seed(1);
        var config = new ResNetConfig { Depths = new[] { 1, 1 }, Widths = new[] { 16, 32 }, StemWidth = 16, NumClasses = 5, StemPool = false, ZeroInitLastGamma = false };
        using var model = new BatchNormResNet(config);
        using var a = randn(1, 3, 32, 32);
        using var batch1 = cat(new[] { a, randn(3, 3, 32, 32) });
        using var batch2 = cat(new[] { a, randn(3, 3, 32, 32).Times(3L) });
        model.train();
        using (no_grad())
        {
            var t1 = model.forward(batch1)[0];
            var t2 = model.forward(batch2)[0];
            Assert.False(t1.allclose(t2, rtol: 1e-3, atol: 1e-4));                 // batch statistics leak across images
        }
        model.eval();
        using (no_grad())
        {
            var e1 = model.forward(batch1)[0];
            var e2 = model.forward(batch2)[0];
            Assert.True(e1.allclose(e2, rtol: 1e-4, atol: 1e-5));                  // running statistics: independent
        }
    }
}
