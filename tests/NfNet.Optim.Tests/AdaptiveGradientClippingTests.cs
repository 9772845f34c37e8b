using MathNet.Numerics.LinearAlgebra;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class AdaptiveGradientClippingTests
{
    private const double Lambda = 0.01;
    private const double Eps = 1e-3;

    /// <summary>Independent reference in double: units are rows of a [units, fan] matrix.</summary>
    private static double[,] ReferenceClip(double[,] w, double[,] g, double lambda, double eps)
    {
        var W = Matrix<double>.Build.DenseOfArray(w);
        var G = Matrix<double>.Build.DenseOfArray(g);
        var result = G.Clone();
        for (var i = 0; i < W.RowCount; i++)
        {
            var max = lambda * Math.Max(W.Row(i).L2Norm(), eps);
            var gn = G.Row(i).L2Norm();
            if (gn > max) result.SetRow(i, G.Row(i) * (max / Math.Max(gn, 1e-6)));
        }
        return result.ToArray();
    }

    private static double[,] AsUnits(Tensor t, bool whole)
    {
        var d = t.to(ScalarType.Float64).contiguous();
        var rows = whole || t.dim() <= 1 ? 1 : t.shape[0];
        var flat = d.reshape(rows, -1);
        var a = new double[rows, flat.shape[1]];
        for (var i = 0; i < rows; i++)
            for (var j = 0; j < flat.shape[1]; j++) a[i, j] = flat[i, j].ReadDouble();
        return a;
    }

    public static TheoryData<long[], double> Shapes => new()
    {
        { Array.Empty<long>(), 1.0 },          // scalar
        { new long[] { 7 }, 0.05 },            // vector (bias)
        { new long[] { 5, 6 }, 0.02 },         // linear weight
        { new long[] { 4, 3, 3, 3 }, 0.01 },   // conv kernel
        { new long[] { 6, 2, 3, 3 }, 0.01 },   // grouped conv kernel [O, I/g, k, k]
        { new long[] { 4, 3, 3, 3 }, 1e-5 },   // every unit far below the threshold: nothing is clipped
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ClippingMatchesADoubleReferenceForEveryRank(long[] shape, double gradScale)
    {
        manual_seed(shape.Length + 1);
        using var w = randn(shape, dtype: ScalarType.Float64);
        // Mix of units above and below the threshold: scale some gradient units up.
        using var g = randn(shape, dtype: ScalarType.Float64).Times(gradScale);
        var expected = ReferenceClip(AsUnits(w, false), AsUnits(g, false), Lambda, Eps);
        using var clipped = g.clone();
        AdaptiveGradientClipping.ClipInPlace(w, clipped, Lambda, Eps);
        var actual = AsUnits(clipped, false);
        for (var i = 0; i < expected.GetLength(0); i++)
            for (var j = 0; j < expected.GetLength(1); j++)
                Assert.Equal(expected[i, j], actual[i, j], 12);
    }

    [Fact]
    public void LargeGradientsAreScaledOntoTheThresholdAndKeepTheirDirection()
    {
        using var w = tensor(new double[,] { { 3, 4 }, { 0.6, 0.8 } });    // unit norms 5 and 1
        using var g = tensor(new double[,] { { 0.3, 0.4 }, { 0.003, 0.004 } }); // norms 0.5 (> 0.05) and 0.005 (≤ 0.01)
        AdaptiveGradientClipping.ClipInPlace(w, g, Lambda, Eps);
        Assert.Equal(0.03, g[0, 0].ReadDouble(), 12);   // 0.5 → 0.05, direction (0.6, 0.8)
        Assert.Equal(0.04, g[0, 1].ReadDouble(), 12);
        Assert.Equal(0.003, g[1, 0].ReadDouble(), 15);  // untouched
        Assert.Equal(0.004, g[1, 1].ReadDouble(), 15);
    }

    [Fact]
    public void ZeroInitialisedParameterStillMovesButByAtMostLambdaEps()
    {
        using var w = zeros(Array.Empty<long>(), dtype: ScalarType.Float64);
        using var g = tensor(5.0, dtype: ScalarType.Float64);
        AdaptiveGradientClipping.ClipInPlace(w, g, Lambda, Eps);
        Assert.Equal(Lambda * Eps, g.ReadDouble(), 15);
    }

    [Fact]
    public void GainConventionsDiffer()
    {
        using var w = ones(3, 1, 1, 1, dtype: ScalarType.Float64);
        using var g1 = tensor(new double[] { 1, 0, 0 }, dtype: ScalarType.Float64).reshape(3, 1, 1, 1);
        using var g2 = g1.clone();
        AdaptiveGradientClipping.ClipInPlace(w, g1, Lambda, Eps, GainClipping.Elementwise);
        AdaptiveGradientClipping.ClipInPlace(w, g2, Lambda, Eps, GainClipping.WholeVector);
        Assert.Equal(0.01, g1[0, 0, 0, 0].ReadDouble(), 12);                 // per element: max = 0.01·1
        Assert.Equal(0.01 * Math.Sqrt(3), g2[0, 0, 0, 0].ReadDouble(), 12);  // whole vector: max = 0.01·√3
    }

    private static (Parameter W, Parameter B) Linear()
    {
        var w = new Parameter(ones(2, 2));
        var b = new Parameter(zeros(2));
        return (w, b);
    }

    [Fact]
    public void DecoratorClipsThenStepsTheInnerOptimizer()
    {
        var (w, b) = Linear();
        var sgd = optim.SGD(new[] { w, b }, 1.0);
        var agc = new AdaptiveGradientClipping(sgd, new[] { ("w", w) }, Lambda, Eps);
        agc.zero_grad();
        w.sum().Times(100L).Plus(b.sum().Times(100L)).backward();
        agc.step();
        // w rows have norm √2: each gradient row (100, 100) is clipped to norm 0.01·√2, i.e. (0.01, 0.01).
        Assert.Equal(1 - 0.01, w[0, 0].ReadDouble(), 6);
        // b is not in the clipped set: a full unclipped step.
        Assert.Equal(-100, b[0].ReadDouble(), 6);
    }

    [Fact]
    public void ZeroGradClearsGradientsToNullOrFillsZerosByOption()
    {
        var (w, b) = Linear();
        var agc = new AdaptiveGradientClipping(optim.SGD(new[] { w, b }, 1.0), new[] { ("w", w) }, Lambda, Eps);
        w.sum().Times(3L).backward();
        agc.zero_grad();
        Assert.Null(w.grad);
        Assert.Null(b.grad);
        // The next backward hands over the fresh gradient (not added to a stale one); b got none and is skipped.
        w.sum().Times(2L).backward();
        Assert.Equal(2.0, w.grad!.max().ReadDouble());
        Assert.Null(b.grad);
        agc.step();
        Assert.Equal(0.0, b.abs().max().ReadDouble());

        agc.SetGradientsToNone = false;
        agc.zero_grad();
        Assert.NotNull(w.grad);
        Assert.Equal(0.0, w.grad!.abs().max().ReadDouble());
    }

    [Fact]
    public void SchedulerChangesTheInnerLearningRateThroughTheDecorator()
    {
        var (w, _) = Linear();
        var sgd = optim.SGD(new[] { w }, 0.5);
        var agc = new AdaptiveGradientClipping(sgd, new[] { ("w", w) });
        var scheduler = optim.lr_scheduler.StepLR(agc, 1, 0.1);
        agc.zero_grad();
        w.sum().backward();
        agc.step();
        scheduler.step();
        Assert.Equal(0.05, sgd.ParamGroups.First().LearningRate, 12);
    }

    [Fact]
    public void NonFiniteGradientRaisesNamingTheParameterOrSkipsByOption()
    {
        var (w, b) = Linear();
        var agc = new AdaptiveGradientClipping(optim.SGD(new[] { w, b }, 0.1), new[] { ("head.fc.weight", w), ("b", b) });
        w.grad = TestScalars.Full([2, 2], double.NaN, ScalarType.Float32);
        var e = Assert.Throws<NonFiniteGradientException>(() => agc.step());
        Assert.Equal("head.fc.weight", e.ParameterName);
        Assert.Equal(1.0, w[0, 0].ReadDouble());

        var skipping = new AdaptiveGradientClipping(optim.SGD(new[] { w, b }, 0.1), new[] { ("w", w) }, skipNonFiniteSteps: true);
        w.grad = TestScalars.Full([2, 2], double.PositiveInfinity, ScalarType.Float32);
        skipping.step();
        Assert.Equal(1, skipping.SkippedSteps);
        Assert.Equal(1.0, w[0, 0].ReadDouble());
    }

    [Fact]
    public void ParametersWithoutGradientsAreSkipped()
    {
        var (w, b) = Linear();
        var agc = new AdaptiveGradientClipping(optim.SGD(new[] { w, b }, 0.1), new[] { ("w", w), ("b", b) });
        b.sum().backward(); // w gets no gradient
        agc.step();
        Assert.Equal(1.0, w[0, 0].ReadDouble());
    }

    [Theory]
    [InlineData(0.0, 1e-3)]
    [InlineData(-0.01, 1e-3)]
    [InlineData(0.01, 0.0)]
    public void InvalidHyperParametersAreRejected(double lambda, double eps)
    {
        var (w, _) = Linear();
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new AdaptiveGradientClipping(optim.SGD(new[] { w }, 0.1), new[] { ("w", w) }, lambda, eps));
    }

    [Fact]
    public void NFNetSelectionExcludesTheClassifierByConvention()
    {
        using var model = NFNet.Create("F0", device: META);
        var all = model.named_parameters().Count();
        var deepMind = AgcParameters.ForModel(model).Select(p => p.Name).ToList();
        var timm = AgcParameters.ForModel(model, ClassifierExclusion.TimmWeightAndBias).Select(p => p.Name).ToList();
        var noGains = AgcParameters.ForModel(model, clipResidualGains: false).Select(p => p.Name).ToList();
        Assert.Equal(all - 1, deepMind.Count);
        Assert.DoesNotContain("head.fc.weight", deepMind);
        Assert.Contains("head.fc.bias", deepMind);
        Assert.Equal(all - 2, timm.Count);
        Assert.Equal(all - 1 - 12, noGains.Count); // F0 has 12 skipinit_gain scalars
    }
}
