using NfNet.Platform;
using NfNet.Testing;
using NfNet.Training.Augmentation;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

public sealed class MixUpCutMixTests
{
    [Theory]
    [InlineData(0.0)]  // MixUp only
    [InlineData(1.0)]  // CutMix only
    [InlineData(0.5)]
    public void LabelWeightsSumToOneAndMatchTheMixedPixels(double cutMixProbability)
    {
        // Image i is constant i+1 in a batch of 8; it is paired with image 7−i (constant 8−i). The mixed image's mean
        // is w·(i+1) + (1−w)·(8−i), so w can be read back from the pixels: for CutMix it is the share of the image A
        // keeps (the box area), for MixUp the Beta draw.
        const int b = 8, classes = 10;
        var images = TestScalars.Arange(1, b + 1, ScalarType.Float32).reshape(b, 1, 1, 1).expand(b, 1, 16, 16).contiguous();
        var labels = tensor(new long[] { 0, 1, 2, 3, 4, 5, 6, 7 });
        var mix = new MixUpCutMix(0.2, cutMixProbability);
        var (mixed, targets) = mix.Apply(images, labels, classes, new Random(3));
        var weights = mix.LastWeights;
        for (var i = 0; i < b; i++)
        {
            Assert.Equal(1.0, targets[i].sum().ReadDouble(), 5);
            Assert.Equal(weights[i], targets[i, i].ReadDouble(), 5);
            Assert.Equal(1 - weights[i], targets[i, b - 1 - i].ReadDouble(), 5);
            var expectedMean = weights[i] * (i + 1) + (1 - weights[i]) * (b - i);
            Assert.Equal(expectedMean, mixed[i].mean().ReadDouble(), 4);
            if (cutMixProbability == 1.0)
            {
                // CutMix pixels are either A's or B's, and A's share is a multiple of 1/256.
                var fromA = mixed[i].eq(images[i, 0, 0, 0]).sum().ReadInt64();
                Assert.Equal(weights[i], fromA / 256.0, 10);
            }
        }
    }

    [Fact]
    public void LabelSmoothingKeepsRowsNormalised()
    {
        var targets = nn.functional.one_hot(tensor(new long[] { 2, 0 }), 4).to(ScalarType.Float32);
        var smooth = SoftTargets.Smooth(targets, 0.1);
        Assert.Equal(0.925, smooth[0, 2].ReadDouble(), 6); // 0.9 + 0.1/4
        Assert.Equal(0.025, smooth[0, 1].ReadDouble(), 6);
        Assert.Equal(1.0, smooth[1].sum().ReadDouble(), 6);
        // Cross-entropy against one-hot targets equals PyTorch's cross_entropy.
        var logits = tensor(new float[,] { { 1, 2, 3, 4 }, { 0, 0, 1, -1 } });
        var expected = nn.functional.cross_entropy(logits, tensor(new long[] { 2, 0 })).ReadDouble();
        Assert.Equal(expected, SoftTargets.CrossEntropy(logits, targets).ReadDouble(), 5);
    }

    [Fact]
    public void RandomCropFlipIsDeterministicAndKeepsContent()
    {
        var images = randn(6, 1, 8, 8);
        var aug = new RandomCropFlip(2, fillValue: 0);
        var a = aug.Apply(images, new Random(1));
        var b = aug.Apply(images, new Random(1));
        Assert.True(a.eq(b).all().ReadBoolean());
        Assert.Equal(images.shape, a.shape);
        var none = new RandomCropFlip(0, flip: false).Apply(images, new Random(1));
        Assert.True(none.eq(images).all().ReadBoolean());
    }
}
