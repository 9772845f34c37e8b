using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
using NfNet.Training.Augmentation;
using NfNet.Training.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>The trainer's parts: the optimizer factory, the step strategies and their refusals, evaluation's train mode,
/// and training any registered model through the model contract.</summary>
public sealed class TrainerPartsTests
{
    private static TensorDataSource RandomData(int count, int channels, int size, int classes, int seed)
    {
        var generator = new Generator((ulong)seed);
        return new TensorDataSource(randn(new long[] { count, channels, size, size }, generator: generator),
            randint(0, classes, new long[] { count }, generator: generator));
    }

    private static TrainerOptions Quick => FashionMnistRecipe.Options(epochs: 1, batchSize: 8) with
    {
        Augment = null,
        Precision = Devices.PrecisionMode.Float32,
        MaxSteps = 2,
    };

    [Fact]
    public void LayerDecayGivesTheTrainersOptimizerOneGroupPerDepthAndTrainsAFamilyMember()
    {
        manual_seed(0);
        using var model = ModelRegistry.Create("nf_regnet_b0", numClasses: 4);
        using var data = RandomData(16, 3, 32, 4, seed: 2);
        using var trainer = new Trainer(model, Quick with { LayerDecay = 0.8, PeakLearningRate = 0.1 });
        var rates = trainer.Optimizer.ParamGroups.Select(g => g.InitialLearningRate).ToArray();
        var depths = model.ParameterDepths().Max(p => p.Depth) + 1;
        Assert.Equal(18, rates.Length);                                         // stem, 16 blocks, head
        Assert.Equal(Enumerable.Range(0, depths).Select(d => 0.1 * Math.Pow(0.8, depths - 1 - d)), rates, new ToleranceComparer(1e-12));
        trainer.Fit(data);
        Assert.True(model.parameters().All(p => p.isfinite().all().ReadBoolean()));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(double value) => 0;
    }

    [Theory]
    [InlineData("resnet50", "fc.weight")]
    [InlineData("efficientnetv2_b0", "classifier.weight")]
    [InlineData("dm_nf_resnet50", "fc.weight")]
    public void TrainsARegisteredModelWithItsOwnClassifierLeftUnclipped(string name, string classifier)
    {
        manual_seed(0);
        using var model = ModelRegistry.Create(name, numClasses: 4, inChannels: 1);
        using var data = RandomData(16, 1, 32, 4, seed: 1);
        var before = model.ClassifierParameters()[0].Parameter.clone();
        using var trainer = new Trainer(model, Quick);
        trainer.Fit(data);
        Assert.Equal(2, trainer.Step);
        var agc = Assert.IsType<AdaptiveGradientClipping>(trainer.Optimizer);
        Assert.DoesNotContain(classifier, agc.ClippedNames);                 // the contract's classifier, not "head.fc"
        Assert.Contains(model.named_parameters().First().name, agc.ClippedNames);
        Assert.All(model.ResidualGainParameters(), g => Assert.DoesNotContain(g.Name, agc.ClippedNames));
        Assert.False(before.allclose(model.ClassifierParameters()[0].Parameter), "the classifier was trained");
    }

    [Fact]
    public void TheOptimizerFactoryBuildsTheOptimizerAndSamWrapsIt()
    {
        manual_seed(0);
        using var model = new NFNet(FashionMnistRecipe.Model(32));
        var calls = 0;
        var options = Quick with
        {
            OptimizerFactory = (m, o) => { calls++; return optim.Adam(m.parameters(), o.PeakLearningRate); },
            PeakLearningRate = 1e-3,
        };
        using (var plain = new Trainer(model, 10, options))
            Assert.IsType<TorchSharp.Modules.Adam>(plain.Optimizer);
        using var sam = new Trainer(model, 10, options with { SamRho = 0.05 });
        var wrapper = Assert.IsType<SharpnessAwareMinimization>(sam.Optimizer);
        Assert.IsType<TorchSharp.Modules.Adam>(wrapper.Inner);
        Assert.Equal(2, calls);
        using var data = RandomData(16, 1, 28, 10, seed: 2);
        sam.Fit(data);                                                      // SAM's step evaluates the closure itself
        Assert.Equal(2, sam.Step);
    }

    [Fact]
    public void DlbRefusesMixUpInTheOptionsAndInAPlan()
    {
        using var model = new NFNet(FashionMnistRecipe.Model(32));
        var mix = new MixUpCutMix(mixUpAlpha: 0.2);
        var error = Assert.Throws<ArgumentException>(() => new Trainer(model, 10, Quick with { DlbAlpha = 1.0, Mix = mix }));
        Assert.Contains("MixUp/CutMix", error.Message);

        using var trainer = new Trainer(model, 10, Quick with { DlbAlpha = 1.0, Plan = epoch => new EpochPlan(Mix: mix) });
        using var data = RandomData(16, 1, 28, 10, seed: 3);
        var planError = Assert.Throws<InvalidOperationException>(() => trainer.Fit(data));
        Assert.Contains("epoch 1", planError.Message);
        Assert.Equal(0, trainer.Step);                                     // refused before any step
    }

    [Fact]
    public void EvaluationRestoresTrainModeEvenWhenItThrows()
    {
        using var model = new NFNet(FashionMnistRecipe.Model(32));
        using var trainer = new Trainer(model, 10, Quick);
        model.train();
        using var wrongChannels = RandomData(4, 3, 28, 10, seed: 4);       // the model takes 1 channel
        Assert.Throws<InvalidInputException>(() => trainer.Evaluate(wrongChannels));
        Assert.True(model.training);
        model.eval();
        using var good = RandomData(4, 1, 28, 10, seed: 5);
        trainer.Evaluate(good);
        Assert.False(model.training);                                      // and leaves eval mode as it found it
    }
}
