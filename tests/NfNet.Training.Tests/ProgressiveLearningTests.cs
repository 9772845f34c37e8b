using Xunit;

namespace NfNet.Training.Tests;

public sealed class ProgressiveLearningTests
{
    [Fact]
    public void PaperScheduleIsLinearFromTheMinimum()
    {
        var p = ProgressiveLearning.EfficientNetV2S(ProgressiveScheduleKind.Paper);
        // S_i = 128 + 172·i/3 → 128, 185.33, 242.67, 300; magnitude 5 + 10·i/3; dropout 0.1 + 0.2·i/3.
        Assert.Equal(new[] { 128, 185, 242, 300 }, Enumerable.Range(0, 4).Select(i => p.Stage(i).ImageSize));
        Assert.Equal(new[] { 5.0, 25.0 / 3, 35.0 / 3, 15.0 }, Enumerable.Range(0, 4).Select(i => p.Stage(i).RandAugmentMagnitude), new Tol());
        Assert.Equal(new[] { 0.1, 0.1 + 0.2 / 3, 0.1 + 0.4 / 3, 0.3 }, Enumerable.Range(0, 4).Select(i => p.Stage(i).Dropout), new Tol());
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(0.0, p.Stage(i).MixupAlpha));
    }

    [Fact]
    public void ReleasedCodeScheduleSkipsTheMinimumAndFixesDropout()
    {
        var p = ProgressiveLearning.EfficientNetV2S(ProgressiveScheduleKind.ReleasedCode);
        // ⌊128 + 172·(i+1)/4⌋ = 171, 214, 257, 300; RandAugment linspace(5, 10, 4); dropout stays 0.2.
        Assert.Equal(new[] { 171, 214, 257, 300 }, Enumerable.Range(0, 4).Select(i => p.Stage(i).ImageSize));
        Assert.Equal(new[] { 5.0, 20.0 / 3, 25.0 / 3, 10.0 }, Enumerable.Range(0, 4).Select(i => p.Stage(i).RandAugmentMagnitude), new Tol());
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(0.2, p.Stage(i).Dropout));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Stage(4));
    }

    [Fact]
    public void EpochsSplitEvenlyIntoStagesAndBecomePlans()
    {
        var p = ProgressiveLearning.EfficientNetV2S() with { MaxMixup = 0.2 };
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3 }, Enumerable.Range(0, 12).Select(e => p.StageOfEpoch(e, 12)));
        var plan = p.ToPlan(12);
        Assert.Equal(128, plan(0).ImageSize);
        Assert.Null(plan(0).Mix);                     // α = 0 in stage 0
        Assert.Equal(300, plan(11).ImageSize);
        Assert.Equal(0.2, plan(11).Mix!.MixUpAlpha, 10);
    }

    private sealed class Tol : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-9;
        public int GetHashCode(double v) => 0;
    }
}
