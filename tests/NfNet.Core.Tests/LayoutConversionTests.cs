using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>Layout changes on the way into a convolution send the gradient back in the source's layout, so that the
/// backward pass runs in the forward pass's layouts (libtorch's element-wise kernels leave their vectorized path when two
/// layouts meet). Gradients of non-leaf tensors are read with <c>autograd.grad</c>: a leaf's <c>.grad</c> is re-laid out
/// by <c>AccumulateGrad</c> to match the leaf and would hide the layout the backward pass ran in.</summary>
public sealed class LayoutConversionTests
{
    /// <summary>A 4-D tensor's memory layout.</summary>
    public enum Layout { ChannelsFirst, ChannelsLast, Other }

    private static Layout LayoutOf(Tensor t) =>
        t.is_contiguous() ? Layout.ChannelsFirst : ChannelsLastConvolution.IsChannelsLast(t) ? Layout.ChannelsLast : Layout.Other;

    // A non-leaf in the given layout with the values of arange, so that any transposition shows in the values.
    private static (Tensor Leaf, Tensor Source) Source(Layout layout, ScalarType dtype = ScalarType.Float32)
    {
        var leaf = Scalars.Arange(2 * 32 * 3 * 5, dtype).reshape(2, 32, 3, 5).requires_grad_();
        var source = leaf.Times(1.0);                        // a non-leaf, channels-first
        return layout switch
        {
            Layout.ChannelsLast => (leaf, source.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)),
            Layout.Other => (leaf, source.transpose(2, 3)),         // a strided view: neither layout
            _ => (leaf, source),
        };
    }

    [Theory]
    [InlineData(Layout.ChannelsFirst, Layout.ChannelsLast)]
    [InlineData(Layout.ChannelsLast, Layout.ChannelsFirst)]
    [InlineData(Layout.Other, Layout.ChannelsLast)]
    [InlineData(Layout.Other, Layout.ChannelsFirst)]
    public void TheCopyHasTheTargetLayoutAndTheGradientComesBackInTheSources(Layout from, Layout to)
    {
        using var scope = NewDisposeScope();
        var (_, x) = Source(from);
        var y = to == Layout.ChannelsLast ? LayoutConversion.ToChannelsLast(x) : LayoutConversion.ToChannelsFirst(x);
        Assert.Equal(to, LayoutOf(y));
        Assert.True(y.equal(x).all().ReadBoolean(), "the values are the source's");
        // The incoming gradient in the target's layout, as the layers after the conversion make it.
        var g = Scalars.Arange(y.numel(), ScalarType.Float32).reshape(Shapes.Of(y)).Times(0.5);
        g = to == Layout.ChannelsLast ? g.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : g.contiguous();
        var dx = autograd.grad(new[] { y }, new[] { x }, new[] { g })[0];
        Assert.True(dx.equal(g).all().ReadBoolean(), "the gradient of a copy is the incoming gradient");
        // A source in neither layout gets the gradient as libtorch makes it (the target's layout).
        Assert.Equal(from == Layout.Other ? to : from, LayoutOf(dx));
    }

    [Fact]
    public void PlainLibtorchLayoutChangesSendTheGradientBackInTheTargetsLayout()
    {
        // The behaviour the conversion exists for: if libtorch ever returned the source's layout itself, the conversion
        // could go.
        using var scope = NewDisposeScope();
        var (_, x) = Source(Layout.ChannelsFirst);
        var y = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        var g = ones_like(y);
        Assert.Equal(Layout.ChannelsLast, LayoutOf(autograd.grad(new[] { y }, new[] { x }, new[] { g })[0]));
    }

    [Fact]
    public void ATensorAlreadyInTheTargetLayoutIsNotCopied()
    {
        using var scope = NewDisposeScope();
        var (_, first) = Source(Layout.ChannelsFirst);
        var (_, last) = Source(Layout.ChannelsLast);
        Assert.Equal(TorchSharpInternals.DataPointer(first), TorchSharpInternals.DataPointer(LayoutConversion.ToChannelsFirst(first)));
        Assert.Equal(TorchSharpInternals.DataPointer(last), TorchSharpInternals.DataPointer(LayoutConversion.ToChannelsLast(last)));
    }

    [Fact]
    public void WithoutGradientsItIsAPlainCopy()
    {
        using var scope = NewDisposeScope();
        var (_, x) = Source(Layout.ChannelsFirst);
        using var _ = no_grad();
        var y = LayoutConversion.ToChannelsLast(x);
        Assert.Equal(Layout.ChannelsLast, LayoutOf(y));
        Assert.False(y.requires_grad);
        Assert.True(y.equal(x).all().ReadBoolean());
    }

    [Fact]
    public void SecondOrderGradientsGoThroughTheConversion()
    {
        // f = Σ w · c(x)³ with c the conversion: df/dx = 3 w x², d/dx Σ(df/dx) = 6 w x, by hand.
        using var scope = NewDisposeScope();
        var x = Scalars.Arange(2 * 16 * 2 * 3, ScalarType.Float64).reshape(2, 16, 2, 3).DividedBy(50.0).requires_grad_();
        var w = randn(2, 16, 2, 3, dtype: ScalarType.Float64);
        var f = LayoutConversion.ToChannelsLast(x).Squared().mul(x).mul(w).sum();
        var first = autograd.grad(new[] { f }, new[] { x }, retain_graph: true, create_graph: true)[0];
        Assert.True(first.allclose(x.Squared().mul(w).Times(3.0), rtol: 1e-15, atol: 0), "first derivative");
        var second = autograd.grad(new[] { first.sum() }, new[] { x })[0];
        Assert.True(second.allclose(x.mul(w).Times(6.0), rtol: 1e-15, atol: 0), "second derivative");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 4)]   // products from 8×8 down in bf16 on every CPU
    [InlineData(ScalarType.BFloat16, 8)]
    public void APointwiseProductOnAChannelsFirstMapSendsItsGradientBackChannelsFirst(ScalarType dtype, long map)
    {
        using var scope = NewDisposeScope();
        manual_seed(map);
        long[] one = { 1, 1 }, zero = { 0, 0 };
        var leaf = randn(2, 64, map, map, dtype: dtype).requires_grad_();
        var x = leaf.Times(1.0);                             // a non-leaf activation, channels-first
        var w = randn(128, 64, 1, 1, dtype: dtype);
        Assert.Equal(ConvStrategy.PointwiseAsMatmul, ConvolutionBackend.StrategyFor(x, w, one, zero, 1));
        var y = ConvolutionBackend.Conv2d(x, w, null, one, zero, one, 1);
        var dx = autograd.grad(new[] { y }, new[] { x }, new[] { ones_like(y) })[0];
        Assert.True(dx.is_contiguous(), "the gradient of a channels-first activation is channels-first");
        // Σ_o w[o, c] at every pixel, by hand (the sum in float64 of the values bf16 holds; bf16 rounding of the product).
        var expected = w.to(ScalarType.Float64).sum(new long[] { 0 }).reshape(1, 64, 1, 1).expand(2, 64, map, map);
        Assert.True(dx.to(ScalarType.Float64).allclose(expected, rtol: 2e-2, atol: 2e-2), "the values of the gradient");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, false)]
    [InlineData(ScalarType.Float32, true)]  // mixed precision: float32 weights, bf16 activations
    [InlineData(ScalarType.Float32, false)]
    public void EveryConvolutionInputOfAModelGetsItsGradientInItsOwnLayout(ScalarType parameters, bool mixed)
    {
        // Widths the speed paths take (≥ 64, multiples of 16) and a 64 px input: stem and stage 0 on 16×16 maps
        // (channels-last on AMX CPUs), stages 1–3 on 8×8 to 2×2 (matrix products and channels-first convolutions).
        using var scope = NewDisposeScope();
        manual_seed(3);
        var config = TestFixtures.TinyConfig with { Name = "layouts", Widths = new[] { 128, 256, 256, 512 }, Depths = new[] { 1, 2, 1, 1 }, StemWidth = 128, GroupWidth = 64 };
        using var model = new NFNet(config);
        model.to(parameters);
        model.train();
        // The hooks keep the inputs themselves (an alias would be a new node that no gradient reaches); inputs a layer
        // disposed itself are skipped.
        var inputs = new List<(string Name, Tensor Input)>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is ScaledWSConv2d conv)
                conv.register_forward_hook((_, input, output) => { inputs.Add((name, input.DetachFromDisposeScope())); return output; });
        }
        List<string> mismatched;
        try
        {
            var images = randn(2, 3, 64, 64).to(mixed ? ScalarType.BFloat16 : parameters);
            var loss = model.forward(images).to(ScalarType.Float32).Squared().mean();
            var live = inputs.Where(i => !i.Input.IsInvalid && i.Input.requires_grad).ToList();
            Assert.True(live.Count >= 12, $"the hooks kept {live.Count} differentiable convolution inputs");
            var gradients = autograd.grad(new[] { loss }, live.Select(i => i.Input).ToList(), allow_unused: true);
            Assert.All(gradients, g => Assert.NotNull(g));
            mismatched = live.Zip(gradients).Where(p => LayoutOf(p.First.Input) != LayoutOf(p.Second))
                .Select(p => $"{p.First.Name}: input {LayoutOf(p.First.Input)}, gradient {LayoutOf(p.Second)}").ToList();
        }
        finally
        {
            foreach (var (_, input) in inputs) input.Dispose();
        }
        Assert.True(mismatched.Count == 0, string.Join("; ", mismatched));
    }
}
