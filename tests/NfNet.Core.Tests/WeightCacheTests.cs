using NfNet.Layers;
using NfNet.Models;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class WeightCacheTests
{
    private static long Hits(NFNet model) => model.modules().OfType<ScaledWSConv2d>().Sum(c => c.WeightCacheHits);

    [Fact]
    public void InferenceReusesTheStandardizedWeightAndGivesIdenticalOutputs()
    {
        using var model = TestFixtures.LoadTiny();
        using var x = randn(2, 3, 32, 32);
        Tensor first, second, uncached;
        using (no_grad())
        {
            first = model.forward(x);
            var afterFirst = Hits(model);
            second = model.forward(x);
            Assert.Equal(model.modules().OfType<ScaledWSConv2d>().Count(), Hits(model) - afterFirst); // every conv hit
            foreach (var c in model.modules().OfType<ScaledWSConv2d>()) c.WeightCacheEnabled = false;
            uncached = model.forward(x);
        }
        Assert.True(first.eq(second).all().ToBoolean());
        Assert.True(first.eq(uncached).all().ToBoolean());
    }

    [Fact]
    public void AnOptimizerStepInvalidatesTheCache()
    {
        using var model = TestFixtures.LoadTiny();
        using var x = randn(2, 3, 32, 32);
        using (no_grad()) model.forward(x);                      // fills the cache
        // One SGD step in eval mode (gradients on), then inference again.
        var sgd = optim.SGD(model.parameters(), 0.5);
        model.forward(x).square().mean().backward();
        sgd.step();
        Tensor cached, reference;
        using (no_grad())
        {
            cached = model.forward(x);
            foreach (var c in model.modules().OfType<ScaledWSConv2d>()) c.WeightCacheEnabled = false;
            reference = model.forward(x);
        }
        Assert.True(cached.eq(reference).all().ToBoolean());
        using var stale = TestFixtures.LoadTiny();
        using (no_grad()) Assert.False(stale.forward(x).eq(reference).all().ToBoolean()); // the step did change the output
    }

    [Fact]
    public void OptimizeForInferenceCachesWithoutNoGradAndLoadingInvalidates()
    {
        using var model = new NFNet(TestFixtures.TinyConfig);
        model.OptimizeForInference();
        using var x = randn(1, 3, 32, 32);
        model.forward(x);
        var before = Hits(model);
        model.forward(x);
        Assert.True(Hits(model) > before);
        Assert.All(model.parameters(), p => Assert.False(p.requires_grad));
        model.LoadSafetensors(TestFixtures.TinyWeights);          // new weights: the cache must not serve the old ones
        using var expected = TestFixtures.LoadTiny();
        using (no_grad()) Assert.True(model.forward(x).allclose(expected.forward(x), rtol: 0, atol: 0));
    }
}
