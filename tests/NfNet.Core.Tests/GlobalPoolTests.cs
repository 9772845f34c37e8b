using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// timm's global pools (<c>avg</c>, <c>max</c>, <c>avgmax</c>, <c>catavgmax</c>, none) against hand values, in the
/// NormFreeNet head, and through <c>ResetClassifier(classes, pool)</c>, whose new head the model's configuration records.
/// </summary>
public sealed class GlobalPoolTests
{
    [Fact]
    public void EveryPoolByHandOnTwoChannels()
    {
        // Channel 0: 1, 2, 3, 6 (mean 3, max 6); channel 1: -1, -2, -3, -2 (mean -2, max -1).
        using var x = tensor(new double[] { 1, 2, 3, 6, -1, -2, -3, -2 }).reshape(1, 2, 2, 2);
        double[] Pool(GlobalPool p) { using var y = p.Apply(x); return y.data<double>().ToArray(); }
        Assert.Equal(new[] { 3.0, -2.0 }, Pool(GlobalPool.Avg));
        Assert.Equal(new[] { 6.0, -1.0 }, Pool(GlobalPool.Max));
        Assert.Equal(new[] { 4.5, -1.5 }, Pool(GlobalPool.AvgMax));
        Assert.Equal(new[] { 3.0, -2.0, 6.0, -1.0 }, Pool(GlobalPool.CatAvgMax));
        Assert.Equal(x.data<double>().ToArray(), Pool(GlobalPool.None));
        Assert.Equal(GlobalPool.CatAvgMax, GlobalPools.Parse("CatAvgMax"));
        Assert.Equal(GlobalPool.None, GlobalPools.Parse(""));
        Assert.Throws<ArgumentException>(() => GlobalPools.Parse("attn"));
    }

    [Theory]
    [InlineData(GlobalPool.Avg, 1)]
    [InlineData(GlobalPool.Max, 1)]
    [InlineData(GlobalPool.AvgMax, 1)]
    [InlineData(GlobalPool.CatAvgMax, 2)]
    public void TheHeadPoolsTheFeatureMapAndTheClassifierReadsIt(GlobalPool pool, int widthFactor)
    {
        manual_seed(4);
        using var model = new NFNet(TestFixtures.TinyConfig with { GlobalPool = pool, NumClasses = 5 });
        model.eval();
        using var _ = no_grad();
        using var x = randn(2, 3, 64, 64);
        using var features = model.forward_features(x);
        using var preLogits = model.forward_head(features, preLogits: true);
        using var expected = pool.Apply(features);
        Assert.True(preLogits.allclose(expected, 0, 0));
        Assert.Equal(widthFactor * model.NumFeatures, model.PooledFeatures);
        Assert.Equal(new long[] { 5, widthFactor * model.NumFeatures }, model.state_dict()["head.fc.weight"].shape);
        using var logits = model.forward(x);
        Assert.Equal(new long[] { 2, 5 }, logits.shape);
    }

    [Fact]
    public void ResettingTheClassifierWithAPoolRecordsTheNewHeadSoACheckpointRebuildsIt()
    {
        using var model = new NFNet(TestFixtures.TinyConfig with { NumClasses = 10 });
        model.ResetClassifier(7, GlobalPool.CatAvgMax);
        Assert.Equal((7, GlobalPool.CatAvgMax), (model.Config.NumClasses, model.Config.GlobalPool));
        Assert.Equal(new long[] { 7, 2 * model.NumFeatures }, model.state_dict()["head.fc.weight"].shape);
        using var rebuilt = ModelRegistry.CreateFromConfiguration(ModelRegistry.ConfigurationTypeName(typeof(NFNetConfig)), ModelRegistry.SerializeConfiguration(model), META);
        Assert.Equal(model.state_dict().Select(kv => (kv.Key, string.Join(",", kv.Value.shape))), rebuilt.state_dict().Select(kv => (kv.Key, string.Join(",", kv.Value.shape))));

        model.ResetClassifier(3);                              // the pool stays
        Assert.Equal(new long[] { 3, 2 * model.NumFeatures }, model.state_dict()["head.fc.weight"].shape);
        Assert.Throws<ArgumentException>(() => model.ResetClassifier(3, GlobalPool.None));
        Assert.Equal(GlobalPool.CatAvgMax, model.Config.GlobalPool); // a refused reset changes nothing
        model.ResetClassifier(0, GlobalPool.None);
        using var _ = no_grad();
        model.eval();
        using var x = randn(1, 3, 64, 64);
        using var map = model.forward(x);
        Assert.Equal(new long[] { 1, model.NumFeatures, 2, 2 }, map.shape);
    }

    [Fact]
    public void NoPoolWithAClassifierIsARefusedConfiguration()
    {
        var error = Assert.Throws<InvalidNFNetConfigException>(() => new NFNet(TestFixtures.TinyConfig with { GlobalPool = GlobalPool.None }, META));
        Assert.Contains("0 classes", error.Message);
    }
}
