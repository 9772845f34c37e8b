using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class NFNetRecipeTests
{
    private static readonly string KeysFile = Path.Combine(AppContext.BaseDirectory, "Fixtures", "timm-dm_nfnet_f0-keys.txt");

    [Fact]
    public void WeightDecayLandsOnlyOnConvAndLinearWeightsOfARealF0()
    {
        // Independent count from timm's F0 state dict: keys ending in ".weight" (convs, SE FCs, classifier).
        var keys = File.ReadLines(KeysFile).Where(l => !l.StartsWith('#')).Select(l => l.Split('\t')).ToArray();
        var expectedDecayed = keys.Where(k => k[0].EndsWith(".weight")).Select(k => k[0]).ToHashSet();
        var expectedElements = keys.Where(k => k[0].EndsWith(".weight")).Sum(k => long.Parse(k[4]));
        Assert.Equal(82, expectedDecayed.Count); // 4 stem + 12·4 block convs + 4 shortcuts + final + 24 SE FCs + fc

        using var model = NFNet.Create("F0", device: META);
        var (decayed, notDecayed) = NFNetRecipe.SplitForWeightDecay(model);
        Assert.Equal(expectedDecayed, decayed.Select(d => d.Name).ToHashSet());
        Assert.Equal(233 - 82, notDecayed.Count);
        Assert.Equal(expectedElements, decayed.Sum(d => d.Parameter.numel()));
        Assert.Contains(notDecayed, p => p.Name == "stages.0.0.skipinit_gain");
        Assert.DoesNotContain(decayed, p => p.Name.Contains("gain") || p.Name.Contains("bias"));
    }

    [Theory]
    [InlineData(4096, 1.6)]
    [InlineData(256, 0.1)]
    [InlineData(32, 0.0125)]
    public void LearningRateFollowsTheBatchRule(int batch, double expected)
    {
        Assert.Equal(expected, NFNetRecipe.LearningRateForBatch(batch), 12);
    }

    [Fact]
    public void StepCountsMatchThePaperRun()
    {
        // 1,281,167 ImageNet images at batch 4096: 1281167·360 // 4096 = 112,602 steps; 5 warm-up epochs = 1563.9 → 1,563.
        Assert.Equal(112_602, NFNetRecipe.Steps(1_281_167, 4096, 360));
        Assert.Equal(1_563, NFNetRecipe.Steps(1_281_167, 4096, NFNetRecipe.WarmupEpochs));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WeightDecayIsAddedAfterClippingNotBeforeIt(bool decayInsideSgd)
    {
        // One parameter, gradient far above the threshold: DM's order gives clip(g) + wd·w, the wrong order clip(g + wd·w)
        // (clip([1.5, 12]) = [0.0062, 0.0496], w ≈ [2.994, 3.950]). The decay lands after clipping whether AGC adds it
        // (CoupledWeightDecay) or SGD does: AGC clips before SGD sees the gradient.
        const double lambda = 0.01, wd = 0.5, lr = 1.0;
        var w = new TorchSharp.Modules.Parameter(tensor(new double[] { 3, 4 }));         // ‖w‖ = 5, threshold 0.05
        var agc = decayInsideSgd
            ? new AdaptiveGradientClipping(optim.SGD(new[] { w }, lr, weight_decay: wd), new[] { ("w", w) }, lambda)
            : new AdaptiveGradientClipping(optim.SGD(new[] { w }, lr), new[] { ("w", w) }, lambda,
                weightDecay: new CoupledWeightDecay(wd, new[] { w }));
        w.grad = tensor(new double[] { 0, 10 });
        agc.step();
        // clip: [0, 10] → [0, 0.05]; + 0.5·[3, 4] = [1.5, 2.05]; w ← [3 − 1.5, 4 − 2.05]
        Assert.Equal(1.5, w[0].ReadDouble(), 12);
        Assert.Equal(1.95, w[1].ReadDouble(), 12);
    }

    [Fact]
    public void WeightDecayGivenTwiceIsRefused()
    {
        var p = new LinearProblem(seed: 1);
        var decay = new CoupledWeightDecay(5e-5, p.Parameters);
        var e = Assert.Throws<ArgumentException>(() =>
            new AdaptiveGradientClipping(optim.SGD(p.Parameters, 0.1, weight_decay: 1e-4), p.Named, weightDecay: decay));
        Assert.Contains("given twice", e.Message);
        Assert.Throws<ArgumentException>(() =>
            new AdaptiveGradientClipping(optim.Adam(p.Parameters, weight_decay: 1e-4), p.Named, weightDecay: decay));
        // One source of decay is fine either way; AdamW's decoupled decay shrinks the weights, not the gradient.
        _ = new AdaptiveGradientClipping(optim.SGD(p.Parameters, 0.1, weight_decay: 1e-4), p.Named);
        _ = new AdaptiveGradientClipping(optim.SGD(p.Parameters, 0.1), p.Named, weightDecay: decay);
        _ = new AdaptiveGradientClipping(optim.AdamW(p.Parameters), p.Named, weightDecay: decay);
    }

    [Fact]
    public void EmptyParameterListsAreClearErrors()
    {
        Assert.ThrowsAny<ArgumentException>(() => NFNetRecipe.CreateSgdAgc(nn.Sequential(), 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => NFNetRecipe.LearningRateForBatch(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CoupledWeightDecay(-1, Array.Empty<TorchSharp.Modules.Parameter>()));
    }

    [Fact]
    public void CreateSgdAgcBuildsTheDeepMindOptimizer()
    {
        using var model = NFNet.Create("F0", device: META);
        var agc = NFNetRecipe.CreateSgdAgc(model, 1.6, clipSkipInitGain: false);
        Assert.Equal(233 - 1 - 12, agc.ClippedNames.Count); // all but head.fc.weight and the 12 skipinit gains
        Assert.Equal(82, agc.WeightDecay!.Parameters.Count);
        Assert.Equal(2e-5, agc.WeightDecay.Rate);
        var sgd = Assert.IsType<TorchSharp.Modules.SGD>(agc.Inner);
        var options = (TorchSharp.Modules.SGD.Options)((TorchSharp.Modules.ParamGroup)sgd.ParamGroups.Single()).Options;
        Assert.True(options.nesterov);
        Assert.Equal(0.9, options.momentum);
        Assert.Equal(1.6, sgd.ParamGroups.Single().LearningRate);
    }
}
