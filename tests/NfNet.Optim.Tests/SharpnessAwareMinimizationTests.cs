using MathNet.Numerics.LinearAlgebra;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class SharpnessAwareMinimizationTests
{
    private const double Lr = 0.1;

    /// <summary>SAM by hand: e = ρ·t²⊙g/‖t⊙g‖ (t = |w| when adaptive, else 1), g' = ∇L(w + e), w ← w − lr·g'.</summary>
    private static (Matrix<double> W, Vector<double> B) HandStep(LinearProblem p, double rho, bool adaptive,
        Func<Matrix<double>, Vector<double>, Matrix<double>, Vector<double>, (Matrix<double>, Vector<double>)>? clip = null)
    {
        var w = p.WValue;
        var b = p.BValue;
        var (gw, gb) = p.Gradient(w, b);
        var tw = adaptive ? w.PointwiseAbs() : Matrix<double>.Build.Dense(w.RowCount, w.ColumnCount, 1.0);
        var tb = adaptive ? b.PointwiseAbs() : Vector<double>.Build.Dense(b.Count, 1.0);
        var norm = Math.Sqrt(Math.Pow(tw.PointwiseMultiply(gw).FrobeniusNorm(), 2) + Math.Pow(tb.PointwiseMultiply(gb).L2Norm(), 2));
        var k = rho / (norm + 1e-12);
        var ew = tw.PointwiseMultiply(tw).PointwiseMultiply(gw) * k;
        var eb = tb.PointwiseMultiply(tb).PointwiseMultiply(gb) * k;
        var (gw2, gb2) = p.Gradient(w + ew, b + eb);
        if (clip is not null) (gw2, gb2) = clip(w, b, gw2, gb2);
        return (w - Lr * gw2, b - Lr * gb2);
    }

    private static void AssertClose(Matrix<double> expected, Matrix<double> actual, double tol)
    {
        for (var i = 0; i < expected.RowCount; i++)
            for (var j = 0; j < expected.ColumnCount; j++)
                Assert.InRange(actual[i, j], expected[i, j] - tol, expected[i, j] + tol);
    }

    private static void AssertClose(Vector<double> expected, Vector<double> actual, double tol)
    {
        for (var i = 0; i < expected.Count; i++) Assert.InRange(actual[i], expected[i] - tol, expected[i] + tol);
    }

    [Theory]
    [InlineData(0.05, false)]
    [InlineData(0.5, false)]
    [InlineData(2.0, true)]
    public void OneStepEqualsTheHandComputedTwoStepResult(double rho, bool adaptive)
    {
        var p = new LinearProblem(seed: 7);
        var (ew, eb) = HandStep(p, rho, adaptive);
        // Sanity: the perturbation matters, so a plain SGD step would not pass this test.
        var (gw, gb) = p.Gradient(p.WValue, p.BValue);
        Assert.True((p.WValue - Lr * gw - ew).FrobeniusNorm() > 1e-4);

        var sam = new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr), rho, adaptive);
        using var loss = sam.step(p.Closure);
        Assert.Equal(2, p.Closures);
        AssertClose(ew, p.WValue, 1e-6);
        AssertClose(eb, p.BValue, 1e-6);
    }

    [Fact]
    public void ReturnsTheLossAtTheUnperturbedWeights()
    {
        var p = new LinearProblem(seed: 3);
        var w = p.WValue;
        var b = p.BValue;
        var r = p.X * w.Transpose();
        for (var i = 0; i < r.RowCount; i++) r.SetRow(i, r.Row(i) + b);
        var expected = (r - p.Y).PointwiseMultiply(r - p.Y).Enumerate().Average();
        var sam = new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr));
        using var loss = sam.step(p.Closure);
        Assert.Equal(expected, loss.ReadDouble(), 12);
    }

    [Fact]
    public void ComposesWithAgcWhichClipsTheSecondGradientJustBeforeTheBaseStep()
    {
        const double lambda = 0.01;
        var p = new LinearProblem(seed: 11);
        static Vector<double> ClipUnit(Vector<double> w, Vector<double> g)
        {
            var max = lambda * Math.Max(w.L2Norm(), 1e-3);
            var n = g.L2Norm();
            return n > max ? g * (max / Math.Max(n, 1e-6)) : g;
        }
        var (ew, eb) = HandStep(p, 0.05, false, (w, b, gw, gb) =>
        {
            var clipped = gw.Clone();
            for (var i = 0; i < w.RowCount; i++) clipped.SetRow(i, ClipUnit(w.Row(i), gw.Row(i)));
            return (clipped, ClipUnit(b, gb));
        });
        var agc = new AdaptiveGradientClipping(optim.SGD(p.Parameters, Lr), p.Named, lambda);
        var sam = new SharpnessAwareMinimization(agc);
        using var loss = sam.step(p.Closure);
        Assert.Equal(2, p.Closures);
        AssertClose(ew, p.WValue, 1e-9);
        AssertClose(eb, p.BValue, 1e-9);
    }

    [Fact]
    public void StepWithoutAClosureIsAClearError()
    {
        var p = new LinearProblem(seed: 1);
        var sam = new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr));
        var e = Assert.Throws<ArgumentNullException>(() => sam.step());
        Assert.Contains("closure", e.Message);
    }

    [Theory]
    [InlineData(-0.01)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void InvalidRhoIsRejected(double rho)
    {
        var p = new LinearProblem(seed: 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr), rho));
    }

    [Fact]
    public void AgcAroundSamIsRefusedWithTheRightOrderInTheMessage()
    {
        var p = new LinearProblem(seed: 1);
        var sam = new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr));
        var e = Assert.Throws<ArgumentException>(() => new AdaptiveGradientClipping(sam, p.Named));
        Assert.Contains("inside SAM", e.Message);
    }

    [Fact]
    public void WeightsAreRestoredExactlyEvenWhenTheSecondClosureFails()
    {
        var p = new LinearProblem(seed: 5);
        var before = p.WValue;
        var sam = new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr), rho: 0.3);
        var calls = 0;
        Assert.Throws<InvalidOperationException>(() => sam.step(() =>
        {
            if (++calls == 2) throw new InvalidOperationException("second pass failed");
            return p.Closure();
        }));
        Assert.Equal(before.ToArray(), p.WValue.ToArray()); // bit-exact
    }

    [Fact]
    public void Bf16WeightsAreRestoredBitExactlyAndStillStep()
    {
        manual_seed(3);
        var model = nn.Linear(8, 4).to(ScalarType.BFloat16);
        var x = randn(16, 8).to(ScalarType.BFloat16);
        var y = randn(16, 4);
        var before = model.weight!.detach().clone();
        var perturbedSeen = false;
        var sam = new SharpnessAwareMinimization(optim.SGD(model.parameters(), 1e-30), rho: 0.5);
        sam.step(() =>
        {
            perturbedSeen |= !model.weight!.detach().eq(before).all().ReadBoolean();
            var loss = (model.call(x).to(ScalarType.Float32) - y).Squared().mean();
            loss.backward();
            return loss;
        });
        Assert.True(perturbedSeen);            // the second pass ran at w + e
        Assert.True(model.weight!.detach().eq(before).all().ReadBoolean()); // lr 1e-30 rounds away in bf16: exact restore
        Assert.True(float.IsFinite((float)sam.LastGradientNorm) && sam.LastGradientNorm > 0);
    }

    [Fact]
    public void NonFiniteGradientRaisesOrSkipsWithWeightsUnchanged()
    {
        var p = new LinearProblem(seed: 2);
        Tensor Bad() { var l = p.Closure(); p.W.grad!.FillInPlace(double.NaN); return l; }
        var raising = new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr));
        Assert.Throws<NonFiniteGradientException>(() => raising.step(Bad));
        var before = p.WValue;
        var skipping = new SharpnessAwareMinimization(optim.SGD(p.Parameters, Lr), skipNonFiniteSteps: true);
        skipping.step(Bad);
        Assert.Equal(1, skipping.SkippedSteps);
        Assert.Equal(before.ToArray(), p.WValue.ToArray());
    }

    [Fact]
    public void SchedulersReachTheInnerOptimizerThroughSam()
    {
        var p = new LinearProblem(seed: 1);
        var sgd = optim.SGD(p.Parameters, 0.4);
        var sam = new SharpnessAwareMinimization(new AdaptiveGradientClipping(sgd, p.Named));
        var schedule = optim.lr_scheduler.StepLR(sam, 1, 0.5);
        schedule.step();
        Assert.Equal(0.2, sgd.ParamGroups.Single().LearningRate, 12);
    }
}
