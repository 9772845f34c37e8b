using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// The standardized-weight cache is exact: it serves only models frozen by <c>OptimizeForInference</c>, and every
/// change to their weights that the library makes (or a user announces) recomputes it. No fingerprint, no heuristics.
/// </summary>
public sealed class WeightCacheTests
{
    private static long Hits(NFNet model) => model.modules().OfType<ScaledWSConv2d>().Sum(c => c.WeightCacheHits);

    private static Tensor Uncached(NFNet model, Tensor x)
    {
        var convs = model.modules().OfType<ScaledWSConv2d>().ToArray();
        foreach (var c in convs) c.WeightCacheEnabled = false;
        try
        {
            using (no_grad()) return model.forward(x);
        }
        finally
        {
            foreach (var c in convs) c.WeightCacheEnabled = true;
        }
    }

    private static bool Same(Tensor a, Tensor b) => a.equal(b).all().ReadBoolean();

    [Fact]
    public void AFrozenModelReusesTheStandardizedWeightAndGivesIdenticalOutputs()
    {
        using var model = TestFixtures.LoadTiny();
        model.OptimizeForInference();
        using var x = randn(2, 3, 32, 32);
        using var first = model.forward(x);
        var afterFirst = Hits(model);
        using var second = model.forward(x);
        Assert.Equal(model.modules().OfType<ScaledWSConv2d>().Count(), Hits(model) - afterFirst); // every conv hit
        using var uncached = Uncached(model, x);
        Assert.True(Same(first, second));
        Assert.True(Same(first, uncached));
    }

    [Fact]
    public void ATrainableModelInEvalModeIsNeverServedFromTheCacheEvenWhenAChangeKeepsEverySum()
    {
        // The case a fingerprint (sum and norm of the weight) misses: permuting a conv's output units keeps both.
        using var model = TestFixtures.LoadTiny();
        model.eval();
        using var x = randn(2, 3, 32, 32);
        using (no_grad()) model.forward(x).Dispose();
        var conv = model.modules().OfType<ScaledWSConv2d>().First();
        using (no_grad())
        {
            using var permuted = conv.Weight.flip(0);
            conv.Weight.copy_(permuted);
        }
        using Tensor served = model.WithNoGrad(x), reference = Uncached(model, x);
        Assert.Equal(0, Hits(model));
        Assert.True(Same(served, reference));
    }

    [Fact]
    public void UnfreezingAndTrainingDropsTheFreezeUntilTheNextOptimizeForInference()
    {
        using var model = TestFixtures.LoadTiny();
        model.OptimizeForInference();
        using var x = randn(2, 3, 32, 32);
        model.forward(x).Dispose();                                   // fills the cache
        foreach (var p in model.parameters()) p.requires_grad_(true);
        var sgd = optim.SGD(model.parameters(), 0.5);
        model.forward(x).pow(Scalars.Two).mean().backward();          // this forward sees a trainable parameter
        sgd.step();
        foreach (var p in model.parameters()) p.requires_grad_(false); // frozen by hand: not a freeze for the cache
        var hitsBefore = Hits(model);
        using var afterStep = model.forward(x);
        Assert.Equal(hitsBefore, Hits(model));
        Assert.True(Same(afterStep, Uncached(model, x)));
        using var stale = TestFixtures.LoadTiny();
        using (no_grad()) Assert.False(Same(stale.forward(x), afterStep)); // the step did change the output
    }

    [Fact]
    public void LoadingAMoveAndAnAnnouncedEditRecomputeTheCachedWeight()
    {
        using var model = new NFNet(TestFixtures.TinyConfig);
        model.OptimizeForInference();
        using var x = randn(1, 3, 32, 32);
        model.forward(x).Dispose();
        var before = Hits(model);
        model.forward(x).Dispose();
        Assert.True(Hits(model) > before);
        Assert.All(model.parameters(), p => Assert.False(p.requires_grad));

        model.LoadSafetensors(TestFixtures.TinyWeights);          // new weights: the cache must not serve the old ones
        using (var expected = TestFixtures.LoadTiny())
        using (no_grad())
            Assert.True(Same(model.forward(x), expected.forward(x)));

        var conv = model.modules().OfType<ScaledWSConv2d>().Last();
        ModelWeights.Write(model, () =>                           // a hand edit of frozen weights, through the door
        {                                                         // the docs name
            using var _ = no_grad();
            using var permuted = conv.Weight.flip(0);
            conv.Weight.copy_(permuted);
        });
        Assert.True(Same(model.forward(x), Uncached(model, x)));

        model.to(ScalarType.Float64);                             // new Parameter objects: never the old weight
        using var x64 = x.to(ScalarType.Float64);
        using var moved = model.forward(x64);
        Assert.Equal(ScalarType.Float64, moved.dtype);
        Assert.True(Same(moved, Uncached(model, x64)));
    }
}

internal static class NoGradForward
{
    public static Tensor WithNoGrad(this NFNet model, Tensor x)
    {
        using (no_grad()) return model.forward(x);
    }
}
