using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>The models call their children through TorchSharp's <c>call()</c>, so hooks on inner modules run.</summary>
public sealed class ForwardHookTests
{
    private static NFNetConfig Small => TestFixtures.TinyConfig with { Name = "hooks" };

    [Theory]
    [InlineData("stem.conv1")]          // the first conv: no folded scale
    [InlineData("stem.conv3")]          // a conv with the previous activation's gamma folded in
    [InlineData("stages.1.0.conv1")]    // a block's first conv: gamma · beta folded in
    [InlineData("stages.1.0.downsample")]
    [InlineData("stages.1.0.downsample.conv")]
    [InlineData("stages.2.1")]          // a block
    [InlineData("final_conv")]
    [InlineData("head")]
    [InlineData("head.fc")]
    public void ForwardHookOnAnInnerModuleRunsOncePerForward(string path)
    {
        using var model = new NFNet(Small);
        model.eval();
        var module = (nn.Module<Tensor, Tensor>)model.named_modules().Single(m => m.name == path).module;
        var post = 0;
        var pre = 0;
        module.register_forward_hook((_, _, output) => { post++; return output; });
        module.register_forward_pre_hook((_, input) => { pre++; return input; });
        using var _ = no_grad();
        using var x = randn(2, 3, 32, 32);
        using var logits = model.forward(x);
        using var again = model.forward(x);
        Assert.Equal(2, post);
        Assert.Equal(2, pre);
    }

    [Fact]
    public void AScaledConvolutionsHookSeesItsRealOutputAndCanReplaceIt()
    {
        using var model = new NFNet(Small);
        model.eval();
        using var _ = no_grad();
        using var x = randn(1, 3, 32, 32);
        var conv = (ScaledWSConv2d)model.named_modules().Single(m => m.name == "stages.1.0.conv1").module;
        var block = model.Blocks.Single(b => b.Spec.Name == "stages.1.0");
        // The hook sees the unscaled input and the output of the scaled convolution: conv(gamma · beta · input).
        var seen = new List<(Tensor Input, Tensor Output)>();
        var remover = conv.register_forward_hook((_, input, output) => { seen.Add((input.clone().DetachFromDisposeScope(), output.clone().DetachFromDisposeScope())); return output; });
        using (var logits = model.forward(x)) remover.remove();
        var (input, output) = Assert.Single(seen);
        var scale = ((ScaledActivation)model.named_modules().Single(m => m.name == "stages.1.0.act1").module).Gamma * block.Spec.Beta;
        using var scaledInput = input.Times(scale);
        using var expected = conv.forward(scaledInput, 1.0);
        Assert.True(expected.allclose(output, rtol: 1e-5, atol: 1e-6), "the hook's output is the scaled convolution's");
        Assert.NotEqual(1.0, scale);
        input.Dispose();
        output.Dispose();

        // A hook's replacement result is what the model goes on with: zero logits from a zeroed classifier output.
        var fc = (nn.Module<Tensor, Tensor>)model.named_modules().Single(m => m.name == "head.fc").module;
        fc.register_forward_hook((_, _, output) => zeros_like(output));
        using var zeroed = model.forward(x);
        Assert.Equal(0.0, zeroed.abs().max().item<float>());
    }
}
