using NfNet.Models;
using NfNet.Optim;
using NfNet.Training.Checkpoints;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>
/// Checkpoints describe their model: the registry name and the configuration record of any model are stored, and one
/// call rebuilds it — for every registered name, for an NFNet of a configuration of its own, and for a model a user
/// registers with a configuration record of their own.
/// </summary>
public sealed class SelfDescribingCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-selfdesc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A user's configuration record.</summary>
    public sealed record UserNetConfig(int Width, int NumClasses, int InChannels = 3);

    /// <summary>A user's model: a plain conv, ReLU and the shared classifier.</summary>
    public sealed class UserNet : ImageClassifier
    {
        private readonly NfNet.Layers.GuardedConv2d conv;
        private readonly LinearClassifier _classifier;
        private readonly UserNetConfig _config;

        public UserNet(UserNetConfig config, Device? device) : base("user_net")
        {
            _config = config;
            conv = new NfNet.Layers.GuardedConv2d(config.InChannels, config.Width, 3, 2, 1, device: device);
            RegisterComponents();
            _classifier = new LinearClassifier(this, "fc", "fc", config.Width, config.NumClasses, LinearClassifier.NormalInit(0.01), device);
        }

        public override int InChannels => _config.InChannels;
        public override int NumFeatures => _config.Width;
        public override object Configuration => _config;
        protected override LinearClassifier Classifier => _classifier;
        protected override long CountFeatureMacs(int height, int width) => conv.CountMacs(height, width);
        public override Tensor forward_features(Tensor images) => nn.functional.relu(conv.call(images));
        public override Tensor forward_head(Tensor features, bool preLogits = false)
        {
            using var pooled = GlobalPool.Avg.Apply(features);
            return preLogits ? pooled.alias() : _classifier.Apply(pooled);
        }
    }

    private static readonly NFNetConfig Tiny = new()
    {
        Name = "my-own-nfnet", Widths = new[] { 16, 32 }, Depths = new[] { 1, 1 }, StemWidth = 16, GroupWidth = 8,
        NumClasses = 6, DropRate = 0, StochasticDepthRate = 0,
    };

    private static IEnumerable<(string Name, Tensor Value)> State(nn.Module model) => model.state_dict().Select(kv => (kv.Key, kv.Value));

    [Fact]
    public void EveryRegistryNameRoundTripsThroughACheckpointToTheSameModel()
    {
        var names = ModelRegistry.Names;
        // The NormFreeNet family (37 names) and the six comparison models (and whatever another test registered).
        var library = NormFreeFamily.Names.Concat(NfNet.Models.Baselines.BaselineModels.Names);
        Assert.Subset(names.ToHashSet(), library.ToHashSet());
        Assert.Equal(43, library.Count());
        // A stand-in's weights fill the file; what rebuilds the model is the name and configuration record stored with
        // the full-size one (on the meta device: no memory).
        manual_seed(3);
        using var standIn = new NFNet(Tiny);
        using var optimizer = optim.SGD(standIn.parameters(), 0.1);
        foreach (var name in names)
        {
            using var original = ModelRegistry.Create(name, new ModelOptions { NumClasses = 7, Device = META });
            Assert.Equal(name, original.ModelName);
            var path = Path.Combine(_dir, $"{name}.nfckpt");
            TrainingCheckpoint.Save(path, standIn, optimizer, null, CheckpointInfo.For(original, epoch: 1, step: 2, emaUpdates: 0));
            var info = TrainingCheckpoint.ReadInfo(path);
            Assert.Equal(name, info.ModelName);
            using var rebuilt = TrainingCheckpoint.CreateModel(path, META);
            Assert.Equal(original.GetType(), rebuilt.GetType());
            Assert.Equal(name, rebuilt.ModelName);
            Assert.Equal(7, rebuilt.NumClasses);
            Assert.Equal(ModelRegistry.SerializeConfiguration(original), ModelRegistry.SerializeConfiguration(rebuilt));
            Assert.Equal(State(original).Select(s => (s.Name, string.Join("x", s.Value.shape))), State(rebuilt).Select(s => (s.Name, string.Join("x", s.Value.shape))));
        }
    }

    [Fact]
    public void ANetworkOfItsOwnConfigurationAndAComparisonModelComeBackWithTheirWeights()
    {
        manual_seed(5);
        foreach (var model in new ImageClassifier[] { new NFNet(Tiny), ModelRegistry.Create("efficientnetv2_b0", numClasses: 4) })
            using (model)
            {
                using var optimizer = optim.SGD(model.parameters(), 0.1, momentum: 0.9);
                var path = Path.Combine(_dir, $"{model.ModelName}.nfckpt");
                TrainingCheckpoint.Save(path, model, optimizer, null, CheckpointInfo.For(model, 3, 30, 0));
                using var rebuilt = TrainingCheckpoint.LoadModel(path);
                Assert.Equal(model.ModelName, rebuilt.ModelName);
                Assert.Equal(ModelRegistry.SerializeConfiguration(model), ModelRegistry.SerializeConfiguration(rebuilt));
                model.eval();
                using var _ = no_grad();
                using var x = randn(2, 3, 64, 64);
                using var expected = model.forward(x);
                using var actual = rebuilt.forward(x);
                Assert.True(expected.allclose(actual, 0, 0), $"{model.ModelName}: the rebuilt model gives other logits");
            }
    }

    [Fact]
    public void AModelAUserRegistersWithAConfigurationOfTheirOwnRebuildsFromItsCheckpoint()
    {
        ModelRegistry.Register<UserNetConfig>("user_net", o => new UserNetConfig(12, o.NumClasses ?? 3, o.InChannels ?? 3), (c, d) => new UserNet(c, d));
        manual_seed(11);
        using var model = ModelRegistry.Create("user_net", numClasses: 5);
        using var optimizer = optim.SGD(model.parameters(), 0.1);
        using var ema = new ExponentialMovingAverage(model, 0.5);
        ema.Update(model);
        var path = Path.Combine(_dir, "user.nfckpt");
        TrainingCheckpoint.Save(path, model, optimizer, ema, CheckpointInfo.For(model, 1, 1, ema.UpdateCount));

        Assert.Equal(new UserNetConfig(12, 5), TrainingCheckpoint.ReadConfiguration(path));
        using var rebuilt = TrainingCheckpoint.LoadModel(path, preferEma: true);
        Assert.IsType<UserNet>(rebuilt);
        Assert.Equal(5, rebuilt.NumClasses);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            Assert.True(p.allclose(rebuilt.named_parameters().Single(q => q.name == name).parameter, 0, 0), name);
    }

    [Fact]
    public void ACheckpointOfAnUnregisteredConfigurationTypeIsATypedErrorThatSaysWhatToRegister()
    {
        using var model = new NFNet(Tiny);
        using var optimizer = optim.SGD(model.parameters(), 0.1);
        var path = Path.Combine(_dir, "foreign.nfckpt");
        TrainingCheckpoint.Save(path, model, optimizer, null, CheckpointInfo.For(model, 0, 0, 0) with { ModelConfigType = "Acme.UnknownConfig" });
        var error = Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.CreateModel(path));
        Assert.Contains("Acme.UnknownConfig", error.Message);
        Assert.Contains("my-own-nfnet", error.Message);
    }

    [Fact]
    public void TheRegistryTakesOptionsAndRefusesOnesAModelHasNoUseFor()
    {
        using var coatnet = ModelRegistry.Create("coatnet_0", new ModelOptions { ImageSize = 128, Device = META });
        Assert.Equal(128, ((NfNet.Models.Baselines.CoAtNetConfig)coatnet.Configuration).ImageSize);
        Assert.Equal(128, coatnet.PretrainedConfig.InputSize);
        using var f1 = ModelRegistry.Create("dm_nfnet_f1", new ModelOptions { DropRate = 0.1, StochasticDepthRate = 0.05, Device = META });
        Assert.Equal((0.1, 0.05), (((NFNetConfig)f1.Configuration).DropRate, ((NFNetConfig)f1.Configuration).StochasticDepthRate));
        var error = Assert.Throws<ArgumentException>(() => ModelRegistry.Create("resnet50", new ModelOptions { DropRate = 0.2, Device = META }));
        Assert.Equal("DropRate", error.ParamName);
        Assert.Contains("resnet50", error.Message);
        Assert.Throws<ArgumentException>(() => ModelRegistry.Create("dm_nfnet_f0", new ModelOptions { ImageSize = 192, Device = META }));
    }
}
