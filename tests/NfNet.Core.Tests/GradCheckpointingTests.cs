using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// Gradient checkpointing per stage (timm's <c>set_grad_checkpointing</c>): in training with stochastic depth on, the
/// loss and every parameter's gradient equal those without it (float64), through the features API too; eval forwards
/// and forwards without autograd are untouched.
/// </summary>
public sealed class GradCheckpointingTests
{
    private static Dictionary<string, Tensor> Gradients(NFNet model, Tensor x, Tensor y, bool checkpointing, out double loss)
    {
        model.SetGradCheckpointing(checkpointing);
        model.zero_grad();
        manual_seed(21); // the same stochastic-depth draws in both runs
        using var l = nn.functional.cross_entropy(model.forward(x), y);
        l.backward();
        loss = l.ReadDouble();
        return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
    }

    [Fact]
    public void GradientsEqualThoseWithoutCheckpointingWithStochasticDepthOn()
    {
        manual_seed(8);
        var config = (NFNetConfig)ModelRegistry.Configure("test_nfnet", new ModelOptions { NumClasses = 5, StochasticDepthRate = 0.3 });
        using var model = new NFNet(config);
        model.to(ScalarType.Float64);
        using (no_grad()) foreach (var p in model.parameters()) if (p.abs().max().ReadDouble() == 0) p.normal_(0, 0.1); // open every branch
        model.train();
        using var x = randn(8, 3, 48, 48, ScalarType.Float64);
        using var y = tensor(new long[] { 0, 1, 2, 3, 4, 0, 1, 2 });
        var plain = Gradients(model, x, y, checkpointing: false, out var plainLoss);
        var recomputed = Gradients(model, x, y, checkpointing: true, out var recomputedLoss);
        Assert.Equal(plainLoss, recomputedLoss, 12);
        Assert.Equal(plain.Keys, recomputed.Keys);
        foreach (var (name, g) in plain)
        {
            Assert.True(g.abs().max().ReadDouble() > 0 || name.Contains("skipinit"), $"{name}: no gradient to compare");
            Assert.True(recomputed[name].allclose(g, 1e-10, 1e-14), $"{name}: max |Δ| {(recomputed[name] - g).abs().max().ReadDouble():E2}");
        }
        // A different random state would drop other blocks: the restored state is what makes them equal.
        var different = Gradients(model, x, y, checkpointing: false, out _);
        Assert.True(different.All(kv => kv.Value.allclose(plain[kv.Key], 0, 0)));
        foreach (var t in plain.Values.Concat(recomputed.Values).Concat(different.Values)) t.Dispose();
    }

    [Fact]
    public void TheFeatureMapsAreCheckpointedAndEvalIsUntouched()
    {
        manual_seed(9);
        using var model = (NFNet)ModelRegistry.Create("test_nfnet", new ModelOptions { NumClasses = 0 });
        model.to(ScalarType.Float64);
        model.train();
        using var x = randn(2, 3, 32, 32, ScalarType.Float64);
        double Sum(bool on)
        {
            model.SetGradCheckpointing(on);
            model.zero_grad();
            var maps = model.ForwardFeatureMaps(x, 2, 4);
            using var total = maps[0].sum().Plus(maps[1].Squared().sum());
            total.backward();
            foreach (var m in maps) m.Dispose();
            return model.parameters().Sum(p => p.grad is null ? 0 : p.grad.abs().sum().ReadDouble());
        }
        Assert.Equal(Sum(false), Sum(true), 9);
        model.eval();
        model.SetGradCheckpointing(true);
        using var _ = no_grad();
        using var a = model.forward(x);
        model.SetGradCheckpointing(false);
        using var b = model.forward(x);
        Assert.True(a.allclose(b, 0, 0));
    }
}
