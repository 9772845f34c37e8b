using NfNet.Optim;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

/// <summary><see cref="ScalarSafeSgdStep"/> is TorchSharp's SGD update bit for bit (it only owns its Scalars), with
/// every option, two parameter groups, a parameter without a gradient and a learning rate a scheduler changed.</summary>
public sealed class ScalarSafeSgdStepTests
{
    private static Parameter[] Parameters(int seed)
    {
        manual_seed(seed);
        return new[] { randn(3, 4), randn(5), randn(2, 2, 3, 3) }.Select(t => new Parameter(t)).ToArray();
    }

    private static void Gradients(Parameter[] ps, int step)
    {
        manual_seed(100 + step);
        foreach (var (p, i) in ps.Select((p, i) => (p, i)))
            if (i != 1 || step % 2 == 0) p.grad = randn(p.shape); else p.grad = null;   // the vector skips odd steps
    }

    [Theory]
    [InlineData(0.0, 0.0, 0.0, false, false)]
    [InlineData(0.9, 0.0, 0.0, true, false)]
    [InlineData(0.9, 0.1, 1e-2, false, false)]
    [InlineData(0.8, 0.0, 5e-4, true, true)]
    public void ItIsTorchSharpsSgdBitForBit(double momentum, double dampening, double decay, bool nesterov, bool maximize)
    {
        var ours = Parameters(1);
        var theirs = Parameters(1);
        SGD Make(Parameter[] ps) => optim.SGD(new[]
        {
            new SGD.ParamGroup(ps.Take(2), new SGD.Options { LearningRate = 0.05 }),
            new SGD.ParamGroup(ps.Skip(2), new SGD.Options { LearningRate = 0.2 }),
        }, 0.1, momentum, dampening, decay, nesterov, maximize);
        var a = Make(ours);
        var b = Make(theirs);
        for (var step = 0; step < 4; step++)
        {
            if (step == 2) foreach (var o in new[] { a, b }) o.ParamGroups.First().LearningRate = 0.01;   // as a scheduler would
            Gradients(ours, step);
            Gradients(theirs, step);
            ScalarSafeSgdStep.Step(a);
            b.step();
            for (var i = 0; i < ours.Length; i++)
                Assert.True(ours[i].equal(theirs[i]).all().ReadBoolean(), $"step {step}, parameter {i} differs");
        }
    }

    [Fact]
    public void ItRunsTheClosureWithGradientsOnAndReturnsItsLoss()
    {
        var w = new Parameter(tensor(new[] { 1.0f, -2.0f }));
        var sgd = optim.SGD(new[] { w }, 0.5);
        Tensor Closure()
        {
            sgd.zero_grad();
            var loss = w.pow(Scalars.Two).sum();   // gradient 2w
            loss.backward();
            return loss;
        }
        using var _ = no_grad();
        var loss = ScalarSafeSgdStep.Step(sgd, Closure);
        Assert.Equal(5.0, loss.ReadDouble(), 6);
        Assert.Equal(new[] { 0.0f, 0.0f }, w.data<float>().ToArray());   // w − 0.5 · 2w
    }

    [Fact]
    public void AnotherOptimizerIsSteppedByItsOwnStep()
    {
        var w = new Parameter(tensor(new[] { 1.0f }));
        var adam = optim.Adam(new[] { w }, 0.1);
        w.grad = tensor(new[] { 1.0f });
        ScalarSafeSgdStep.Step(adam);
        Assert.Equal(0.9f, w.data<float>()[0], 5);   // Adam's first step moves by the learning rate
    }
}
