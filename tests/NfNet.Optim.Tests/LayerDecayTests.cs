using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

/// <summary>
/// Layer-wise learning-rate decay: timm's NormFreeNet depth groups written out by hand for <c>test_nfnet</c>, the scales
/// decay^(D − 1 − d), the schedule keeping their ratios, and one AGC-SGD step moving each depth by its scale of the
/// full step.
/// </summary>
public sealed class LayerDecayTests
{
    [Fact]
    public void TheNormFreeNetDepthsAreTimmsGroups()
    {
        using var model = ModelRegistry.Create("test_nfnet", numClasses: 4, device: META);
        var depth = model.ParameterDepths().ToDictionary(p => p.Name, p => p.Depth);
        Assert.Equal(model.named_parameters().Count(), depth.Count);
        // One block per stage: stem 0, stages.s.0 → s + 1, final_conv with the last block, the head last.
        Assert.Equal(0, depth["stem.conv1.weight"]);
        Assert.Equal(0, depth["stem.conv4.gain"]);
        Assert.Equal(1, depth["stages.0.0.conv1.weight"]);
        Assert.Equal(2, depth["stages.1.0.downsample.conv.weight"]);
        Assert.Equal(4, depth["stages.3.0.attn_last.fc2.bias"]);
        Assert.Equal(4, depth["final_conv.weight"]);
        Assert.Equal(5, depth["head.fc.weight"]);
        Assert.Equal(5, depth["head.fc.bias"]);
    }

    [Fact]
    public void ScalesAreTheDecayToTheDistanceFromTheHead()
    {
        using var model = ModelRegistry.Create("test_nfnet", numClasses: 4, device: META);
        var groups = LayerDecay.Groups(model, 0.5);
        Assert.Equal(new[] { 1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 1.0 }, groups.Select(g => g.Scale));
        Assert.Equal(model.parameters().Count(), groups.Sum(g => g.Parameters.Count));
        Assert.Equal(2, groups[^1].Parameters.Count); // head.fc weight and bias
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerDecay.Groups(model, 1.5));
        Assert.Throws<ArgumentException>(() => LayerDecay.SgdGroups(nn.Linear(2, 2), 0.1, 0.5));
    }

    [Fact]
    public void OneAgcStepMovesEachDepthByItsScaleOfTheFullStepAndTheScheduleKeepsTheRatios()
    {
        manual_seed(6);
        using var full = ModelRegistry.Create("test_nfnet", numClasses: 4);
        using var decayed = ModelRegistry.Create("test_nfnet", numClasses: 4);
        using (no_grad()) foreach (var (a, b) in full.parameters().Zip(decayed.parameters())) b.copy_(a);
        // In float64, so that a step of 1/32 of the full one is far above the weights' rounding.
        full.to(ScalarType.Float64);
        decayed.to(ScalarType.Float64);
        var before = decayed.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var x = randn(2, 3, 32, 32, ScalarType.Float64);
        using var y = tensor(new long[] { 1, 3 });
        var steps = new List<(ImageClassifier Model, optim.Optimizer Optimizer)>
        {
            (full, NFNetRecipe.CreateSgdAgc(full, 0.4, clipSkipInitGain: false)),
            (decayed, NFNetRecipe.CreateSgdAgc(decayed, 0.4, clipSkipInitGain: false, layerDecay: 0.5)),
        };
        foreach (var (model, optimizer) in steps)
        {
            optimizer.zero_grad();
            using var loss = nn.functional.cross_entropy(model.forward(x), y);
            loss.backward();
            optimizer.step();
        }
        var moving = 0;
        var depth = decayed.ParameterDepths().ToDictionary(p => p.Name, p => p.Depth);
        var fullState = full.state_dict();
        foreach (var (name, after) in decayed.state_dict())
        {
            using var moved = after - before[name];
            using var fullMoved = fullState[name] - before[name];
            var scale = Math.Pow(0.5, 5 - depth[name]);
            // timm's blocks start with conv3.gain at 0: the weights before it get no gradient yet, in either model.
            if (fullMoved.abs().max().ReadDouble() == 0) continue;
            Assert.True(moved.allclose(fullMoved.Times(scale), 1e-9, 1e-15), $"{name}: expected {scale} of the full step");
            moving++;
        }
        Assert.True(moving > 40, $"only {moving} parameters moved"); // every depth is checked: stem, each stage, head
        // The schedule drives every group from its own peak: the ratios stay.
        var schedule = new WarmupCosineSchedule(steps[1].Optimizer, 2, 10);
        schedule.step();
        var rates = steps[1].Optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();
        Assert.Equal(1.0 / 32, rates[0] / rates[^1], 12);
        foreach (var t in before.Values) t.Dispose();
    }
}
