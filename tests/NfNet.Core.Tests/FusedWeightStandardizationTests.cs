using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// The fused CPU weight standardization against the plain libtorch form computed in float64 (itself checked against
/// MathNet in <see cref="ScaledWSConv2dTests"/>): outputs, weight and gain gradients, both formulas, float32, mixed and
/// pure bf16, rows with and without a vector tail, units that need DeepMind's floor, NaN and second-order gradients.
/// </summary>
public sealed class FusedWeightStandardizationTests(ITestOutputHelper output)
{
    public static TheoryData<WeightStandardization, long, long, long> Shapes() => new()
    {
        { WeightStandardization.Timm, 6, 3, 3 },      // fan 27: one step of 16 values and a scalar tail of 11
        { WeightStandardization.DeepMind, 6, 3, 3 },
        { WeightStandardization.Timm, 40, 13, 1 },    // fan 13
        { WeightStandardization.DeepMind, 40, 13, 1 },
        { WeightStandardization.Timm, 128, 64, 3 },   // fan 576: nine blocks of 64
        { WeightStandardization.DeepMind, 128, 64, 3 },
        { WeightStandardization.Timm, 12, 1011, 1 },  // fan 1011: 15 blocks of 64, a partial block and a tail of 3, unaligned rows
        { WeightStandardization.DeepMind, 12, 1011, 1 },
    };

    // The bf16 tests' shapes: fan 288 (whole steps of 16, rows 16-aligned) and fan 1011 (partial blocks, tails, unaligned rows).
    public static TheoryData<WeightStandardization, long, long, long> BFloat16Shapes() => new()
    {
        { WeightStandardization.Timm, 64, 32, 3 },
        { WeightStandardization.DeepMind, 64, 32, 3 },
        { WeightStandardization.Timm, 12, 1011, 1 },
        { WeightStandardization.DeepMind, 12, 1011, 1 },
    };

    private static (Tensor Weight, Tensor Gain, Tensor Probe) Inputs(long o, long i, long k, int seed)
    {
        manual_seed(seed);
        var w = randn(new[] { o, i, k, k }, float64).TimesInPlace(3.0).PlusInPlace(0.7); // a mean far from zero, variance far from 1/fan
        var gain = empty(new[] { o, 1L, 1L, 1L }, float64).uniform_(0.5, 1.5);
        var probe = randn(new[] { o, i, k, k }, float64);
        return (w, gain, probe);
    }

    // The output and both gradients of sum(Ŵ · probe), Ŵ computed in outputType from weight and gain in their dtype.
    private static (Tensor Out, Tensor Dw, Tensor Dgain) Run(Tensor weight, Tensor gain, Tensor probe, StandardizationFormula formula,
        ScalarType outputType, bool fused)
    {
        using var scope = NewDisposeScope();
        var w = weight.detach().clone().requires_grad_();
        var g = gain.detach().clone().requires_grad_();
        var y = fused ? FusedWeightStandardization.Standardize(w, g, formula, outputType) : formula.Standardize(w, g).to(outputType);
        (y * probe.to(outputType)).sum().backward();
        return (y.detach().to(float64).MoveToOuterDisposeScope(), w.grad!.to(float64).MoveToOuterDisposeScope(),
            g.grad!.to(float64).MoveToOuterDisposeScope());
    }

    private static double RelativeError(Tensor actual, Tensor reference)
    {
        using var scope = NewDisposeScope();
        return (actual - reference).abs().max().ReadDouble() / reference.abs().max().ReadDouble();
    }

    private static StandardizationFormula FormulaOf(WeightStandardization kind) =>
        new(kind, kind == WeightStandardization.Timm ? ScaledWSConv2d.TimmEps : ScaledWSConv2d.DeepMindEps, 1.7);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float32EqualsTheFloat64FormToFloat32Rounding(WeightStandardization kind, long o, long i, long k)
    {
        var (w64, gain64, probe) = Inputs(o, i, k, 1);
        using var _ = w64; using var __ = gain64; using var ___ = probe;
        var formula = FormulaOf(kind);
        var (w, gain, exact, exactGain) = Rounded(w64, gain64, float32);
        var reference = Run(exact, exactGain, probe, formula, float64, fused: false); // the float32 inputs, exactly
        var before = FusedWeightStandardization.BackwardPasses;
        var fused = Run(w, gain, probe, formula, float32, fused: true);
        var plain = Run(w, gain, probe, formula, float32, fused: false);
        Assert.True(FusedWeightStandardization.BackwardPasses > before);
        var errors = new[]
        {
            (RelativeError(fused.Out, reference.Out), RelativeError(plain.Out, reference.Out)),
            (RelativeError(fused.Dw, reference.Dw), RelativeError(plain.Dw, reference.Dw)),
            (RelativeError(fused.Dgain, reference.Dgain), RelativeError(plain.Dgain, reference.Dgain)),
        };
        output.WriteLine($"{kind} [{o}, {i}, {k}, {k}] fused / plain relative errors: " + string.Join(", ", errors.Select(e => $"{e.Item1:E2} / {e.Item2:E2}")));
        foreach (var (f, _) in errors) Assert.InRange(f, 0, 5e-7);
    }

    // The float32 copies of the float64 inputs, and those copies exactly in float64 (the reference's inputs).
    private static (Tensor W, Tensor Gain, Tensor ExactW, Tensor ExactGain) Rounded(Tensor w64, Tensor gain64, ScalarType dtype)
    {
        var w = w64.to(dtype);
        var gain = gain64.to(dtype);
        return (w, gain, w.to(float64), gain.to(float64));
    }

    // |actual − reference| ≤ relative · |reference| + absolute · max|reference|, everywhere.
    private static void AssertWithin(Tensor actual, Tensor reference, double relative, double absolute, string what)
    {
        using var scope = NewDisposeScope();
        var bound = reference.abs().Times(relative).Plus(reference.abs().max().ReadDouble() * absolute);
        var excess = ((actual - reference).abs() - bound).max().ReadDouble();
        Assert.True(excess <= 0, $"{what}: exceeds the bound by {excess:E3}");
    }

    [Theory]
    [MemberData(nameof(BFloat16Shapes))]
    public void MixedPrecisionStandardizesFloat32WeightsStraightIntoBFloat16(WeightStandardization kind, long o, long i, long k)
    {
        var (w64, gain64, probe64) = Inputs(o, i, k, 2);
        var formula = FormulaOf(kind);
        var (w, gain, exactW, exactGain) = Rounded(w64, gain64, float32);
        using var probe = probe64.to(bfloat16).to(float64); // the gradient arrives in bf16
        var reference = Run(exactW, exactGain, probe, formula, float64, fused: false);
        var fused = Run(w, gain, probe, formula, bfloat16, fused: true);
        // One rounding to bf16 of the float32-accurate value: within half a bf16 unit (2^-9 relative, 2^-8 to be safe at
        // ties), and equal to the reference rounded to bf16 almost everywhere.
        AssertWithin(fused.Out, reference.Out, Math.Pow(2, -8), 1e-6, "standardized weight");
        using var rounded = reference.Out.to(bfloat16).to(float64);
        var same = fused.Out.eq(rounded).to(float64).mean().ReadDouble();
        Assert.True(same > 0.999, $"only {same:P2} of the bf16 weights equal the rounded reference");
        // The gradients are float32, like the weights.
        Assert.InRange(RelativeError(fused.Dw, reference.Dw), 0, 5e-7);
        Assert.InRange(RelativeError(fused.Dgain, reference.Dgain), 0, 5e-7);
    }

    [Theory]
    [MemberData(nameof(BFloat16Shapes))]
    public void PureBFloat16RoundsOnceAndIsNoFurtherFromExactThanLibtorch(WeightStandardization kind, long o, long i, long k)
    {
        var (w64, gain64, probe64) = Inputs(o, i, k, 3);
        var formula = FormulaOf(kind);
        var (w, gain, exactW, exactGain) = Rounded(w64, gain64, bfloat16);
        using var probe = probe64.to(bfloat16).to(float64);
        var reference = Run(exactW, exactGain, probe, formula, float64, fused: false);
        var fused = Run(w, gain, probe, formula, bfloat16, fused: true);
        var plain = Run(w, gain, probe, formula, bfloat16, fused: false);
        AssertWithin(fused.Out, reference.Out, Math.Pow(2, -8), 1e-6, "standardized weight");
        AssertWithin(fused.Dw, reference.Dw, Math.Pow(2, -8), 1e-5, "weight gradient");
        AssertWithin(fused.Dgain, reference.Dgain, Math.Pow(2, -8), 1e-5, "gain gradient");
        foreach (var (name, f, p, r) in new[]
                 {
                     ("out", fused.Out, plain.Out, reference.Out), ("dw", fused.Dw, plain.Dw, reference.Dw),
                     ("dgain", fused.Dgain, plain.Dgain, reference.Dgain),
                 })
        {
            var (fe, pe) = (RelativeError(f, r), RelativeError(p, r));
            output.WriteLine($"{kind} bf16 {name}: fused {fe:E2}, libtorch {pe:E2}");
            Assert.True(fe <= Math.Max(pe, Math.Pow(2, -9)), $"{name}: fused error {fe:E2} against libtorch's {pe:E2}");
        }
    }

    [Fact]
    public void DeepMindsFloorHoldsTheScaleForNearlyConstantUnits()
    {
        // Unit 0 is constant up to 1e-5: var · fan < 1e-4, so the scale is 1/sqrt(eps) and the variance passes no gradient.
        var (w64, gain64, probe) = Inputs(4, 8, 3, 4);
        using (no_grad()) w64[0].TimesInPlace(1e-5).PlusInPlace(0.3);
        var formula = FormulaOf(WeightStandardization.DeepMind);
        var (w, gain, exactW, exactGain) = Rounded(w64, gain64, float32);
        var reference = Run(exactW, exactGain, probe, formula, float64, fused: false);
        var fused = Run(w, gain, probe, formula, float32, fused: true);
        Assert.InRange(RelativeError(fused.Out[0], reference.Out[0]), 0, 1e-5);
        Assert.InRange(RelativeError(fused.Dw[0], reference.Dw[0]), 0, 1e-5);
        Assert.InRange(RelativeError(fused.Dw, reference.Dw), 0, 5e-7);
        Assert.InRange(RelativeError(fused.Dgain, reference.Dgain), 0, 5e-7);
    }

    [Theory]
    [InlineData(WeightStandardization.Timm)]
    [InlineData(WeightStandardization.DeepMind)]
    public void SecondOrderGradientsEqualTheFloat64Form(WeightStandardization kind)
    {
        // A gradient penalty: d/dW of |d(sum Ŵ·probe)/dW|². The fused backward takes create_graph through the plain form.
        var (w64, gain64, probe) = Inputs(16, 8, 3, 5);
        var formula = FormulaOf(kind);
        var (w, gain, exactW, exactGain) = Rounded(w64, gain64, float32);
        (Tensor Dw, Tensor Dgain) Penalty(Tensor weight, Tensor g0, ScalarType dtype, bool fused)
        {
            using var scope = NewDisposeScope();
            var wp = weight.detach().clone().requires_grad_();
            var gp = g0.detach().clone().requires_grad_();
            var y = fused ? FusedWeightStandardization.Standardize(wp, gp, formula, dtype) : formula.Standardize(wp, gp);
            var first = autograd.grad(new[] { (y * probe.to(dtype)).sum() }, new[] { wp }, retain_graph: true, create_graph: true)[0]; // retain_graph: PyTorch's default with create_graph
            (first * first).sum().backward();
            return (wp.grad!.to(float64).MoveToOuterDisposeScope(), gp.grad!.to(float64).MoveToOuterDisposeScope());
        }
        var reference = Penalty(exactW, exactGain, float64, fused: false);
        var fusedResult = Penalty(w, gain, float32, fused: true);
        Assert.InRange(RelativeError(fusedResult.Dw, reference.Dw), 0, 1e-5);
        Assert.InRange(RelativeError(fusedResult.Dgain, reference.Dgain), 0, 1e-5);
    }

    [Theory]
    [InlineData(ScalarType.Float32, ScalarType.Float32)]
    [InlineData(ScalarType.Float32, ScalarType.BFloat16)]
    [InlineData(ScalarType.BFloat16, ScalarType.BFloat16)]
    public void ANonFiniteWeightMakesItsOwnUnitNaNAndNoOther(ScalarType weightType, ScalarType outputType)
    {
        var (w64, gain64, probe) = Inputs(8, 4, 3, 6);
        using (no_grad()) w64[3, 1, 2, 0] = tensor(double.PositiveInfinity, float64);
        var formula = FormulaOf(WeightStandardization.Timm);
        var (w, gain, _, _) = Rounded(w64, gain64, weightType);
        var fused = Run(w, gain, probe, formula, outputType, fused: true);
        foreach (var t in new[] { fused.Out, fused.Dw })
        {
            Assert.True(t[3].isnan().all().ReadBoolean(), "the unit with ∞ must be NaN throughout");
            Assert.True(t[TensorIndex.Slice(0, 3)].isfinite().all().ReadBoolean() && t[TensorIndex.Slice(4)].isfinite().all().ReadBoolean());
        }
        Assert.True(fused.Dgain[3].isnan().all().ReadBoolean());
    }

    [Fact]
    public void EligibilityNamesWhatIsMissing()
    {
        using var w = randn(8, 4, 3, 3);
        using var gain = ones(8, 1, 1, 1);
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            Assert.Null(FusedWeightStandardization.Ineligibility(w, gain, ScalarType.Float32));
            Assert.Null(FusedWeightStandardization.Ineligibility(w, gain, ScalarType.BFloat16));
            using var wb = w.to(bfloat16);
            using var gb = gain.to(bfloat16);
            Assert.Null(FusedWeightStandardization.Ineligibility(wb, gb, ScalarType.BFloat16));
            // The kernels can, but by default bf16 weights keep libtorch's batch-norm (as fast, measured).
            Assert.Contains("bf16 weights", FusedWeightStandardization.DefaultIneligibility(wb, gb, ScalarType.BFloat16));
            Assert.Null(FusedWeightStandardization.DefaultIneligibility(w, gain, ScalarType.BFloat16));
            using var bf16Conv = new ScaledWSConv2d(4, 8, 3);
            bf16Conv.to(bfloat16);
            Assert.Contains("bf16 weights", bf16Conv.FusedStandardizationIneligibility());
            bf16Conv.UseFusedStandardization = false;
            Assert.Contains("UseFusedStandardization is false", bf16Conv.FusedStandardizationIneligibility());
            Assert.Contains("computes in Float32", FusedWeightStandardization.Ineligibility(wb, gb, ScalarType.Float32));
            using var w64 = w.to(float64);
            using var g64 = gain.to(float64);
            Assert.Contains("Float64", FusedWeightStandardization.Ineligibility(w64, g64, ScalarType.Float64));
            using var transposed = w.transpose(2, 3);
            Assert.Contains("contiguous", FusedWeightStandardization.Ineligibility(transposed, gain, ScalarType.Float32));
            using var meta = empty(new long[] { 8, 4, 3, 3 }, device: torch.META);
            using var metaGain = empty(new long[] { 8, 1, 1, 1 }, device: torch.META);
            Assert.Contains("CPU", FusedWeightStandardization.Ineligibility(meta, metaGain, ScalarType.Float32));
        }
        else Assert.Contains("256-bit", FusedWeightStandardization.Ineligibility(w, gain, ScalarType.Float32));
    }

    private static ScaledWSConv2d Conv(WeightStandardization kind, bool fused)
    {
        manual_seed(21);
        var conv = new ScaledWSConv2d(16, 32, 3, groups: 2, standardization: kind, gamma: 1.3) { UseFusedStandardization = fused };
        using (no_grad()) conv.Gain.uniform_(0.5, 1.5);
        return conv;
    }

    [Theory]
    [InlineData(WeightStandardization.Timm)]
    [InlineData(WeightStandardization.DeepMind)]
    public void AConvolutionTrainsTheSameFusedOrNot(WeightStandardization kind)
    {
        Assert.Equal(!PlatformSwitches.DisableFusedWeightStandardization.IsOn, new ScaledWSConv2d(4, 4, 1).UseFusedStandardization);
        using var fused = Conv(kind, fused: true);
        using var plain = Conv(kind, fused: false);
        manual_seed(22);
        using var x = randn(2, 16, 9, 9);
        using var probe = randn(2, 32, 9, 9);
        var (forwards, backwards) = (FusedWeightStandardization.ForwardPasses, FusedWeightStandardization.BackwardPasses);
        // Folded input scale 0.8; two backward passes accumulate into the same gradients.
        for (var step = 0; step < 2; step++)
        {
            (fused.call(x, 0.8) * probe).sum().backward();
            (plain.call(x, 0.8) * probe).sum().backward();
        }
        Assert.Equal((forwards + 2, backwards + 2), (FusedWeightStandardization.ForwardPasses, FusedWeightStandardization.BackwardPasses));
        using (no_grad())
        {
            using var yf = fused.call(x, 0.8);
            using var yp = plain.call(x, 0.8);
            Assert.InRange(RelativeError(yf, yp), 0, 1e-6);
        }
        Assert.InRange(RelativeError(fused.Weight.grad!, plain.Weight.grad!), 0, 1e-5);
        Assert.InRange(RelativeError(fused.Gain.grad!, plain.Gain.grad!), 0, 1e-5);
        Assert.InRange(RelativeError(fused.Bias!.grad!, plain.Bias!.grad!), 0, 1e-5);
    }

    [Fact]
    public void TheSwitchedOffConvolutionNeverEntersTheKernels()
    {
        using var plain = Conv(WeightStandardization.Timm, fused: false);
        using var fused = Conv(WeightStandardization.Timm, fused: true);
        using var x = randn(1, 16, 5, 5);
        var (forwards, backwards) = (FusedWeightStandardization.ForwardPasses, FusedWeightStandardization.BackwardPasses);
        plain.forward(x).sum().backward();
        Assert.Equal((forwards, backwards), (FusedWeightStandardization.ForwardPasses, FusedWeightStandardization.BackwardPasses));
        fused.forward(x).sum().backward();
        Assert.Equal((forwards + 1, backwards + 1), (FusedWeightStandardization.ForwardPasses, FusedWeightStandardization.BackwardPasses));
    }

    [Fact]
    public void AutogradTakesTheComputedGradientOverInsteadOfCopyingIt()
    {
        // AccumulateGrad copies a new gradient that something else still references; the function's inputs are views so
        // that what reaches it is referenced by nothing else. A copy would cost a pass over every weight each step.
        using var conv = Conv(WeightStandardization.Timm, fused: true);
        using var x = randn(1, 16, 5, 5);
        conv.forward(x).sum().backward();
        Assert.Equal(FusedWeightStandardization.LastWeightGradient, TorchSharpInternals.DataPointer(conv.Weight.grad!));
    }
}
