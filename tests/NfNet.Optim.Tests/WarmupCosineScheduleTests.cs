using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class WarmupCosineScheduleTests
{
    // Hand-computed values for peak 1.6, warm-up 10, total 110 (cosine over 100 steps):
    // t=5 → 1.6·5/10 = 0.8; t=10 → 1.6; t=35 → 0.8·(1+cos(π/4)) = 0.8·1.7071068 = 1.3656854;
    // t=60 → 0.8·(1+cos(π/2)) = 0.8; t=85 → 0.8·(1−0.7071068) = 0.2343146; t=110 → 0.
    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(5, 0.8)]
    [InlineData(10, 1.6)]
    [InlineData(35, 1.3656854249492380)]
    [InlineData(60, 0.8)]
    [InlineData(85, 0.2343145750507620)]
    [InlineData(110, 0.0)]
    [InlineData(500, 0.0)]
    public void ClosedFormAtChosenSteps(int step, double expected)
    {
        Assert.Equal(expected, WarmupCosineSchedule.LearningRateAt(step, 1.6, 10, 110), 12);
    }

    [Fact]
    public void SchedulerSetsTheInnerRateOfADecoratedOptimizerEveryStep()
    {
        var p = new LinearProblem(seed: 1);
        var sgd = optim.SGD(p.Parameters, 1.6);
        var agc = new AdaptiveGradientClipping(sgd, p.Named);
        var schedule = new WarmupCosineSchedule(agc, warmupSteps: 10, totalSteps: 110);
        Assert.Equal(0.0, sgd.ParamGroups.Single().LearningRate);
        for (var t = 1; t <= 110; t++)
        {
            schedule.step();
            Assert.Equal(t, schedule.CurrentStep);
            Assert.Equal(WarmupCosineSchedule.LearningRateAt(t, 1.6, 10, 110), sgd.ParamGroups.Single().LearningRate, 12);
        }
        Assert.Equal(0.8, WarmupCosineSchedule.LearningRateAt(60, 1.6, 10, 110), 12);
    }

    [Fact]
    public void EachGroupUsesItsOwnPeakAndAResumedScheduleContinuesWhereItStopped()
    {
        var p = new LinearProblem(seed: 1);
        var sgd = optim.SGD(new[] { p.W }, 1.0);
        sgd.add_param_group(new TorchSharp.Modules.SGD.ParamGroup(new[] { p.B }, lr: 0.5));
        var schedule = new WarmupCosineSchedule(sgd, 4, 20);
        for (var i = 0; i < 7; i++) schedule.step();
        var lrs = sgd.ParamGroups.Select(g => g.LearningRate).ToArray();
        Assert.Equal(WarmupCosineSchedule.LearningRateAt(7, 1.0, 4, 20), lrs[0], 12);
        Assert.Equal(WarmupCosineSchedule.LearningRateAt(7, 0.5, 4, 20), lrs[1], 12);

        var fresh = optim.SGD(new[] { p.W }, 1.0);
        var resumed = new WarmupCosineSchedule(fresh, 4, 20, currentStep: 7);
        Assert.Equal(lrs[0], fresh.ParamGroups.Single().LearningRate, 12);
    }

    [Theory]
    [InlineData(-1, 10)]
    [InlineData(11, 10)]
    [InlineData(0, 0)]
    public void InvalidLengthsAreRejected(int warmup, int total)
    {
        var p = new LinearProblem(seed: 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(optim.SGD(p.Parameters, 0.1), warmup, total));
    }
}
