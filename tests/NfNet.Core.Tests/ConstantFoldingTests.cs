using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// The NFNet forward folds its constant factors into small tensors (activation gammas and beta into the next conv's
/// standardized weight; the SE gate, stochastic depth mask and residual gain into one gate applied by addcmul).
/// These tests hold the folded forward and backward to the unfolded formula, computed in float64 from the same modules'
/// plain <c>forward</c>s.
/// </summary>
public sealed class ConstantFoldingTests
{
    private static ScaledWSConv2d RandomConv(WeightStandardization formula, double gamma)
    {
        manual_seed(5);
        var conv = new ScaledWSConv2d(4, 6, 3, 2, groups: 2, standardization: formula, gamma: gamma);
        conv.to(ScalarType.Float64);
        using (no_grad())
        {
            conv.Weight.TimesInPlace(2.0).PlusInPlace(0.3);
            conv.Gain.uniform_(0.5, 1.5);
            conv.Bias!.uniform_(-0.2, 0.2);
        }
        return conv;
    }

    [Theory]
    [InlineData(WeightStandardization.Timm, 1.0, 1.7015043497085571)]
    [InlineData(WeightStandardization.Timm, 1.25, 0.5773502691896258)]
    [InlineData(WeightStandardization.DeepMind, 1.0, 1.7015043497085571)]
    [InlineData(WeightStandardization.DeepMind, 0.8, 3.0)]
    public void AConvWithAnInputScaleEqualsTheConvOfTheScaledInput(WeightStandardization formula, double gamma, double scale)
    {
        using var conv = RandomConv(formula, gamma);
        using var x = randn(new long[] { 2, 4, 7, 7 }, dtype: ScalarType.Float64);

        using var folded = conv.forward(x, scale);
        using var foldedLoss = (folded * folded).sum();
        foldedLoss.backward();
        using var foldedWeightGrad = conv.Weight.grad!.clone();
        using var foldedGainGrad = conv.Gain.grad!.clone();
        conv.zero_grad();

        using var scaled = x.Times(scale);
        using var plain = conv.forward(scaled);
        using var plainLoss = (plain * plain).sum();
        plainLoss.backward();

        Assert.True(folded.allclose(plain, rtol: 1e-12, atol: 1e-12));
        Assert.True(foldedWeightGrad.allclose(conv.Weight.grad!, rtol: 1e-10, atol: 1e-12));
        Assert.True(foldedGainGrad.allclose(conv.Gain.grad!, rtol: 1e-10, atol: 1e-12));
        // The scale is not a no-op: without it the output differs.
        using var unscaled = conv.forward(x);
        Assert.False(unscaled.allclose(plain, rtol: 1e-3, atol: 1e-3));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void ANonFiniteInputScaleIsRefused(double scale)
    {
        using var conv = RandomConv(WeightStandardization.Timm, 1.0);
        using var x = randn(new long[] { 1, 4, 5, 5 }, dtype: ScalarType.Float64);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => conv.forward(x, scale));
        Assert.Equal("inputScale", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => conv.StandardizedWeight(scale));
    }

    [Fact]
    public void TheInferenceCacheIsKeyedByTheInputScale()
    {
        using var conv = RandomConv(WeightStandardization.Timm, 1.0);
        conv.eval();
        using var x = randn(new long[] { 1, 4, 5, 5 }, dtype: ScalarType.Float64);
        using var _ = no_grad();
        using var half = conv.forward(x, 0.5);
        using var two = conv.forward(x, 2.0);   // must not reuse the 0.5 weight
        using var halfAgain = conv.forward(x, 0.5);
        using var expectedTwo = conv.forward(x.Times(2.0));
        Assert.True(two.allclose(expectedTwo, rtol: 1e-12, atol: 1e-12));
        Assert.True(half.allclose(halfAgain, rtol: 0, atol: 0));
        Assert.False(half.allclose(two, rtol: 1e-3, atol: 1e-3));
    }

    private static NFNetConfig BlockConfig(StochasticDepthMode mode) => new()
    {
        Widths = new[] { 16, 32 },
        Depths = new[] { 1, 2 },
        StemWidth = 8,
        GroupWidth = 4,
        NumClasses = 3,
        StochasticDepthRate = 0.6, // high, so that a batch of 8 drops some samples and keeps others (seed 42)
        StochasticDepthMode = mode,
    };

    private static T Child<T>(nn.Module module, string name) where T : nn.Module =>
        (T)module.named_children().Single(c => c.name == name).module;

    /// <summary>The block formula with every factor applied as its own multiply, through the modules' plain forwards.</summary>
    private static Tensor Unfolded(NFBlock block, Tensor x)
    {
        var a = Child<ScaledActivation>(block, "act1").forward(x).Times(block.Spec.Beta);
        var shortcut = block.Spec.IsTransition ? Child<DownsampleAvg>(block, "downsample").forward(a) : x;
        var h = Child<ScaledWSConv2d>(block, "conv1").forward(a);
        h = Child<ScaledWSConv2d>(block, "conv2").forward(Child<ScaledActivation>(block, "act2").forward(h));
        h = Child<ScaledWSConv2d>(block, "conv2b").forward(Child<ScaledActivation>(block, "act2b").forward(h));
        h = Child<ScaledWSConv2d>(block, "conv3").forward(Child<ScaledActivation>(block, "act3").forward(h));
        h = Child<SqueezeExcite>(block, "attn_last").forward(h);
        h = Child<StochasticDepth>(block, "drop_path").forward(h);
        return (h * block.SkipInitGain!).Times(block.Spec.Alpha).Plus(shortcut);
    }

    [Theory]
    [InlineData(0, StochasticDepthMode.DeepMind)]  // transition (8 → 16 channels, stride 1), beta 1, no drop (first block)
    [InlineData(1, StochasticDepthMode.DeepMind)]  // transition at a stage boundary (stride 2), beta ≠ 1
    [InlineData(2, StochasticDepthMode.Timm)]      // non-transition, beta ≠ 1, timm's rescaled mask
    [InlineData(2, StochasticDepthMode.DeepMind)]
    public void TheFoldedBlockEqualsTheUnfoldedFormulaForwardAndBackward(int blockIndex, StochasticDepthMode mode)
    {
        var config = BlockConfig(mode);
        var spec = NFBlockSpec.Schedule(config)[blockIndex];
        manual_seed(21);
        using var block = new NFBlock(spec, config);
        block.to(ScalarType.Float64);
        using (no_grad()) block.SkipInitGain!.FillInPlace(0.75); // 0 at init would hide the whole branch
        block.train();
        using var x = randn(new long[] { 8, spec.InChannels, 6, 6 }, dtype: ScalarType.Float64);

        (Tensor Output, Dictionary<string, Tensor> Grads) Run(Func<Tensor, Tensor> forward)
        {
            block.zero_grad();
            manual_seed(42); // the same stochastic-depth draw for both
            var y = forward(x);
            using var loss = (y * y).sum();
            loss.backward();
            var grads = block.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
            return (y, grads);
        }

        var folded = Run(block.forward);
        var unfolded = Run(t => Unfolded(block, t));

        Assert.True(folded.Output.allclose(unfolded.Output, rtol: 1e-10, atol: 1e-12));
        Assert.Equal(unfolded.Grads.Keys.Order(), folded.Grads.Keys.Order());
        foreach (var (name, grad) in unfolded.Grads)
            Assert.True(folded.Grads[name].allclose(grad, rtol: 1e-9, atol: 1e-12), $"gradient of {name}");
        // Where the block has stochastic depth, the draw dropped some samples and kept others: the mask was folded in.
        Assert.Equal(blockIndex > 0, spec.StochasticDepthRate > 0);
        using var branchNorms = (folded.Output - (block.Spec.IsTransition ? Child<DownsampleAvg>(block, "downsample").forward(
            Child<ScaledActivation>(block, "act1").forward(x).Times(spec.Beta)) : x)).flatten(1).abs().sum(1);
        var kept = branchNorms.data<double>().Count(v => v > 1e-9);
        if (spec.StochasticDepthRate > 0) Assert.True(kept >= 1 && kept <= 7, $"kept {kept} of 8");
        else Assert.Equal(8, kept);
        folded.Output.Dispose();
        unfolded.Output.Dispose();
    }

    [Fact]
    public void ForwardWithBranchReturnsTheScaledOutputAndTheUnscaledBranch()
    {
        var config = BlockConfig(StochasticDepthMode.DeepMind) with { StochasticDepthRate = 0.0 };
        var spec = NFBlockSpec.Schedule(config)[2];
        manual_seed(3);
        using var block = new NFBlock(spec, config);
        block.to(ScalarType.Float64);
        using (no_grad()) block.SkipInitGain!.FillInPlace(1.5);
        block.eval();
        using var x = randn(new long[] { 2, spec.InChannels, 5, 5 }, dtype: ScalarType.Float64);
        var (output, branch) = block.ForwardWithBranch(x);
        using (output)
        using (branch)
        using (var expected = branch.Times(1.5 * spec.Alpha).Plus(x))
            Assert.True(output.allclose(expected, rtol: 1e-12, atol: 1e-12));
    }
}
