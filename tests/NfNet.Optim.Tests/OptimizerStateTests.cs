using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class OptimizerStateTests
{
    private static optim.Optimizer Build(LinearProblem p) =>
        new SharpnessAwareMinimization(new AdaptiveGradientClipping(optim.SGD(p.Parameters, 0.05, momentum: 0.9, nesterov: true), p.Named, 0.05));

    [Fact]
    public void MomentumSurvivesASaveAndRestoreThroughDecorators()
    {
        // Uninterrupted: 6 steps.
        var a = new LinearProblem(seed: 9);
        var optA = Build(a);
        for (var i = 0; i < 6; i++) optA.step(a.Closure);

        // Interrupted: 3 steps, save weights and state, rebuild everything, restore, 3 more steps.
        var b = new LinearProblem(seed: 9);
        var optB = Build(b);
        for (var i = 0; i < 3; i++) optB.step(b.Closure);
        using var stream = new MemoryStream();
        OptimizerState.Save(optB, new BinaryWriter(stream));
        var c = new LinearProblem(seed: 9);
        using (no_grad()) { c.W.copy_(b.W); c.B.copy_(b.B); }
        var optC = Build(c);
        stream.Position = 0;
        OptimizerState.Load(optC, new BinaryReader(stream));
        for (var i = 0; i < 3; i++) optC.step(c.Closure);

        Assert.Equal(a.WValue.ToArray(), c.WValue.ToArray());
        Assert.Equal(a.BValue.ToArray(), c.BValue.ToArray());

        // Without the state the momentum is lost and the result differs: the test can fail.
        var d = new LinearProblem(seed: 9);
        using (no_grad()) { d.W.copy_(b.W); d.B.copy_(b.B); }
        var optD = Build(d);
        for (var i = 0; i < 3; i++) optD.step(d.Closure);
        Assert.NotEqual(a.WValue.ToArray(), d.WValue.ToArray());
    }

    [Fact]
    public void StateFromADifferentStackOrGarbageIsRejected()
    {
        var p = new LinearProblem(seed: 1);
        var agc = new AdaptiveGradientClipping(optim.SGD(p.Parameters, 0.1), p.Named);
        using var stream = new MemoryStream();
        OptimizerState.Save(agc, new BinaryWriter(stream));
        stream.Position = 0;
        var e = Assert.Throws<InvalidDataException>(() => OptimizerState.Load(optim.SGD(p.Parameters, 0.1), new BinaryReader(stream)));
        Assert.Contains("AdaptiveGradientClipping", e.Message);
        Assert.Throws<InvalidDataException>(() => OptimizerState.Load(agc, new BinaryReader(new MemoryStream(new byte[] { 3, 1, 2, 3 }))));
        Assert.Throws<InvalidDataException>(() => OptimizerState.Load(agc, new BinaryReader(new MemoryStream())));
    }
}
