using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

/// <summary>
/// The fused CPU step of <see cref="AdaptiveGradientClipping"/> against the unfused sequence run in float64 (libtorch's
/// own ops: clip, decay, TorchSharp's SGD), which is the reference here.
/// </summary>
public sealed class FusedCpuAgcSgdTests
{
    // A conv kernel, a linear weight, a bias and a gain (all clipped), and a head weight that is decayed but not clipped.
    private static readonly long[][] Shapes = { new long[] { 4, 3, 3, 3 }, new long[] { 5, 6 }, new long[] { 7 }, new long[] { 4, 1, 1, 1 }, new long[] { 3, 40 } };

    private sealed record Run(Parameter[] Parameters, AdaptiveGradientClipping Optimizer);

    private static Run Build(ScalarType dtype, bool nesterov, double momentum = 0.9)
    {
        manual_seed(3);
        var ps = Shapes.Select(s => new Parameter(randn(s, dtype: ScalarType.Float64).to(dtype))).ToArray();
        var sgd = optim.SGD(ps, 0.1, momentum: momentum, nesterov: nesterov);
        var clipped = ps.Take(4).Select((p, i) => ($"p{i}", p));
        var decay = new CoupledWeightDecay(0.05, new[] { ps[0], ps[1], ps[4] });
        return new Run(ps, new AdaptiveGradientClipping(sgd, clipped, 0.01, weightDecay: decay));
    }

    // Gradients of mixed size: some units far above λ·‖W_i‖, some below, so both branches of the clip are used.
    private static Tensor[] Gradients(int step) =>
        Shapes.Select((s, i) =>
        {
            manual_seed(100 * step + i);
            var g = randn(s, dtype: ScalarType.Float64);
            return s.Length >= 2 ? g * linspace(1e-4, 1.0, s[0], dtype: ScalarType.Float64).reshape(Broadcast(s)) : g.Times(0.3);
        }).ToArray();

    private static long[] Broadcast(long[] shape) => shape.Select((d, i) => i == 0 ? d : 1L).ToArray();

    private static void Steps(Run run, ScalarType dtype, int count, bool expectFused)
    {
        for (var step = 0; step < count; step++)
        {
            var grads = Gradients(step);
            for (var i = 0; i < run.Parameters.Length; i++) run.Parameters[i].grad = grads[i].to(dtype);
            run.Optimizer.step();
            Assert.Equal(expectFused, run.Optimizer.LastStepWasFused);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Float32MatchesTheFloat64Sequence(bool nesterov)
    {
        var fused = Build(ScalarType.Float32, nesterov);
        var reference = Build(ScalarType.Float64, nesterov); // float64 is not fused: libtorch's ops, one by one
        Steps(fused, ScalarType.Float32, 3, expectFused: true);
        Steps(reference, ScalarType.Float64, 3, expectFused: false);
        for (var i = 0; i < Shapes.Length; i++)
        {
            var expected = reference.Parameters[i];
            Assert.True(fused.Parameters[i].to(ScalarType.Float64).allclose(expected, rtol: 1e-5, atol: 1e-6), $"weight {i}");
            // The clipped, decayed gradient is left in grad, as the unfused sequence leaves it.
            Assert.True(fused.Parameters[i].grad!.to(ScalarType.Float64).allclose(expected.grad!, rtol: 1e-5, atol: 1e-7), $"grad {i}");
        }
    }

    [Fact]
    public void BFloat16StaysWithinBf16RoundingOfTheFloat64Sequence()
    {
        var fused = Build(ScalarType.BFloat16, nesterov: true);
        var reference = Build(ScalarType.Float64, nesterov: true);
        // Same starting weights: the bf16 ones, widened.
        using (no_grad())
            for (var i = 0; i < Shapes.Length; i++) reference.Parameters[i].copy_(fused.Parameters[i].to(ScalarType.Float64));
        Steps(fused, ScalarType.BFloat16, 3, expectFused: true);
        Steps(reference, ScalarType.Float64, 3, expectFused: false);
        for (var i = 0; i < Shapes.Length; i++)
        {
            var actual = fused.Parameters[i].to(ScalarType.Float64);
            var expected = reference.Parameters[i];
            // bf16 keeps 8 bits: one rounding is ≤ 2^-9 relative; three steps of buffer and weight roundings stay
            // within 3 % of the tensor's largest value.
            var error = (actual - expected).abs().max().ReadDouble() / expected.abs().max().ReadDouble();
            Assert.InRange(error, 0, 0.03);
        }
    }

    [Fact]
    public void PlainMomentumAndNoMomentumAreFusedToo()
    {
        foreach (var momentum in new[] { 0.0, 0.9 })
        {
            var fused = Build(ScalarType.Float32, nesterov: false, momentum);
            var reference = Build(ScalarType.Float64, nesterov: false, momentum);
            Steps(fused, ScalarType.Float32, 2, expectFused: true);
            Steps(reference, ScalarType.Float64, 2, expectFused: false);
            for (var i = 0; i < Shapes.Length; i++)
                Assert.True(fused.Parameters[i].to(ScalarType.Float64).allclose(reference.Parameters[i], rtol: 1e-5, atol: 1e-6), $"m={momentum} weight {i}");
        }
    }

    [Fact]
    public void ANonFiniteGradientStillRaisesAndLeavesTheWeightsAlone()
    {
        var run = Build(ScalarType.Float32, nesterov: true);
        var before = run.Parameters.Select(p => p.detach().clone()).ToArray();
        var grads = Gradients(0);
        for (var i = 0; i < run.Parameters.Length; i++) run.Parameters[i].grad = grads[i].to(ScalarType.Float32);
        run.Parameters[1].grad![2, 3].FillInPlace(float.NaN);
        var e = Assert.Throws<NonFiniteGradientException>(() => run.Optimizer.step());
        Assert.Contains("p1", e.Message);
        for (var i = 0; i < run.Parameters.Length; i++) Assert.True(run.Parameters[i].allclose(before[i], rtol: 0, atol: 0), $"weight {i} changed");
    }

    [Fact]
    public void OtherOptimizersAndTheOptOutTakeTheUnfusedSequence()
    {
        var run = Build(ScalarType.Float32, nesterov: true);
        run.Optimizer.UseFusedCpuStep = false;
        Steps(run, ScalarType.Float32, 1, expectFused: false);

        var p = new Parameter(randn(4, 5));
        var adam = new AdaptiveGradientClipping(optim.Adam(new[] { p }), new[] { ("p", p) });
        p.grad = randn(4, 5);
        adam.step();
        Assert.False(adam.LastStepWasFused);

        var decaying = new AdaptiveGradientClipping(optim.SGD(new[] { p }, 0.1, momentum: 0.9, weight_decay: 1e-4), new[] { ("p", p) });
        p.grad = randn(4, 5);
        decaying.step();
        Assert.False(decaying.LastStepWasFused); // SGD's own decay: its sequence, not the fused one
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void LargeTensorsStepTheSameBitForBitOnLibtorchsTeamAndOnDotnetsPool(ScalarType dtype)
    {
        // 300 × 520 = 156,000 values: above the size from which the step splits units over threads.
        Assert.True(NfNet.Platform.OpenMpTeam.IsAvailable, "libtorch's OpenMP runtime was not found");
        (Tensor Weight, Tensor Grad, Tensor Buffer) Run(bool team)
        {
            manual_seed(5);
            var p = new Parameter(randn(new long[] { 300, 520 }, dtype: ScalarType.Float64).to(dtype));
            var sgd = optim.SGD(new[] { p }, 0.1, momentum: 0.9, nesterov: true);
            var agc = new AdaptiveGradientClipping(sgd, new[] { ("p", p) }, 0.01, weightDecay: new CoupledWeightDecay(0.05, new[] { p }));
            NfNet.Platform.OpenMpTeam.Enabled = team;
            try
            {
                for (var step = 0; step < 2; step++)
                {
                    manual_seed(50 + step);
                    p.grad = (randn(new long[] { 300, 520 }, dtype: ScalarType.Float64)
                              * linspace(1e-4, 1.0, 300, dtype: ScalarType.Float64).reshape(300, 1)).to(dtype);
                    agc.step();
                    Assert.True(agc.LastStepWasFused);
                }
            }
            finally { NfNet.Platform.OpenMpTeam.Enabled = true; }
            var buffer = ((SGD.State)sgd.state_dict().State[0]).momentum_buffer!;
            return (p.detach().clone(), p.grad!.clone(), buffer.clone());
        }

        var onTeam = Run(team: true);
        var onPool = Run(team: false);
        Assert.True(onTeam.Weight.allclose(onPool.Weight, rtol: 0, atol: 0), "weight");
        Assert.True(onTeam.Grad.allclose(onPool.Grad, rtol: 0, atol: 0), "clipped gradient");
        Assert.True(onTeam.Buffer.allclose(onPool.Buffer, rtol: 0, atol: 0), "momentum buffer");
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void LargeTensorsWithOddRowsMatchTheFloat64Sequence(ScalarType dtype)
    {
        // 513 × 1001 = 513,513 values: above the size from which units are split over threads. Rows of 1001 values
        // start at every offset from a vector boundary and end in the widest vectors, then narrower ones and a scalar
        // tail.
        var shape = new long[] { 513, 1001 };
        (Parameter P, AdaptiveGradientClipping Agc) Build(ScalarType t)
        {
            manual_seed(9);
            var p = new Parameter(randn(shape, dtype: ScalarType.Float64).to(dtype).to(t)); // same start for both
            var sgd = optim.SGD(new[] { p }, 0.1, momentum: 0.9, nesterov: true);
            return (p, new AdaptiveGradientClipping(sgd, new[] { ("p", p) }, 0.01, weightDecay: new CoupledWeightDecay(0.05, new[] { p })));
        }
        var fused = Build(dtype);
        var reference = Build(ScalarType.Float64);
        for (var step = 0; step < 3; step++)
        {
            manual_seed(70 + step);
            // Units from far below to far above λ·‖W_i‖: both branches of the clip.
            var g = randn(shape, dtype: ScalarType.Float64) * logspace(-5, 0, shape[0], dtype: ScalarType.Float64).reshape(shape[0], 1);
            fused.P.grad = g.to(dtype);
            reference.P.grad = g.to(dtype).to(ScalarType.Float64);
            fused.Agc.step();
            reference.Agc.step();
            Assert.True(fused.Agc.LastStepWasFused);
            Assert.False(reference.Agc.LastStepWasFused);
        }
        var actual = fused.P.to(ScalarType.Float64);
        var expected = reference.P;
        if (dtype == ScalarType.Float32)
        {
            Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-6), "weight");
            var gradError = (fused.P.grad!.to(ScalarType.Float64) - reference.P.grad!).abs().max().ReadDouble();
            Assert.True(fused.P.grad!.to(ScalarType.Float64).allclose(reference.P.grad!, rtol: 1e-5, atol: 1e-7), $"clipped gradient: {gradError}");
        }
        else
        {
            // Each bf16 rounding is ≤ 2^-9 of the value (see the bf16 test above).
            var error = (actual - expected).abs().max().ReadDouble() / expected.abs().max().ReadDouble();
            Assert.InRange(error, 0, 0.03);
            // Element by element too: no value may be off by more than a few bf16 steps of its own size.
            var relative = ((actual - expected).abs() / expected.abs().Plus(1e-3)).max().ReadDouble();
            Assert.InRange(relative, 0, 0.05);
        }
    }
}
