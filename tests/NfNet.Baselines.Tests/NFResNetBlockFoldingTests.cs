using NfNet.Layers;
using NfNet.Models.Baselines;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Baselines.Tests;

/// <summary>The NF-ResNet block folds its constants as NFBlock does (gamma and beta into the next conv, mask and residual
/// gain into addcmul); held to the unfolded formula in float64, forward and every gradient.</summary>
public sealed class NFResNetBlockFoldingTests
{
    private static T Child<T>(nn.Module module, string name) where T : nn.Module =>
        (T)module.named_children().Single(c => c.name == name).module;

    [Theory]
    [InlineData(64, 16, 2, 0.8)]   // projection shortcut (stride 2, 64 → 64 channels out of width 16), beta ≠ 1
    [InlineData(64, 16, 1, 1.0)]   // identity shortcut, beta 1
    public void TheFoldedNFResNetBlockEqualsItsUnfoldedFormula(int inChannels, int width, int stride, double beta)
    {
        var config = new NFResNetConfig();
        manual_seed(8);
        using var block = new NFResNetBlock(inChannels, width, stride, beta, 0.5, config);
        block.to(ScalarType.Float64);
        using (no_grad()) block.SkipInitGain.FillInPlace(0.6);
        block.train();
        using var x = randn(new long[] { 8, inChannels, 6, 6 }, dtype: ScalarType.Float64);

        Tensor Unfolded(Tensor t)
        {
            var act = Child<ScaledActivation>(block, "act");
            var a = act.forward(t).Times(beta);
            var hasShortcut = block.named_children().Any(c => c.name == "conv_shortcut");
            var shortcut = hasShortcut ? Child<ScaledWSConv2d>(block, "conv_shortcut").forward(a) : t;
            var h = Child<ScaledWSConv2d>(block, "conv0").forward(a);
            h = Child<ScaledWSConv2d>(block, "conv1").forward(act.forward(h));
            h = Child<ScaledWSConv2d>(block, "conv2").forward(act.forward(h));
            h = Child<StochasticDepth>(block, "drop_path").forward(h);
            return (h * block.SkipInitGain).Times(block.Alpha).Plus(shortcut);
        }

        (Tensor Output, Dictionary<string, Tensor> Grads) Run(Func<Tensor, Tensor> forward)
        {
            block.zero_grad();
            manual_seed(42);
            var y = forward(x);
            using var loss = (y * y).sum();
            loss.backward();
            return (y, block.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone()));
        }

        var folded = Run(block.forward);
        var unfolded = Run(Unfolded);
        Assert.True(folded.Output.allclose(unfolded.Output, rtol: 1e-10, atol: 1e-12));
        foreach (var (name, grad) in unfolded.Grads)
            Assert.True(folded.Grads[name].allclose(grad, rtol: 1e-9, atol: 1e-12), $"gradient of {name}");
        Assert.Equal(stride == 2, block.named_children().Any(c => c.name == "conv_shortcut"));
        // The same seed's draw (the forward draws nothing else) dropped some samples and kept others.
        manual_seed(42);
        using var mask = Child<StochasticDepth>(block, "drop_path").Mask(x)!;
        var kept = mask.data<double>().Count(v => v > 0);
        Assert.True(kept >= 1 && kept <= 7, $"kept {kept} of 8");
        folded.Output.Dispose();
        unfolded.Output.Dispose();
    }
}
