using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace NfNet.Onnx.Tests;

/// <summary>
/// The exporter is open: a user's <see cref="ImageClassifier"/> built from the library's layers exports and runs in ONNX
/// Runtime like the library's own models; a module without a writer is refused naming its path, and exports once a
/// writer is registered for it; a model whose forward is not its children in order is refused instead of exported wrong.
/// </summary>
public sealed class CustomModelExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-onnx-custom-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly NFNetConfig Blocks = new()
    {
        Name = "user-blocks", Widths = new[] { 32, 64 }, Depths = new[] { 1, 2 }, StemWidth = 16, GroupWidth = 16, NumClasses = 5,
        DropRate = 0.0, StochasticDepthRate = 0.0,
    };

    /// <summary>The configuration of <see cref="LayerBuiltNet"/>.</summary>
    public sealed record LayerBuiltConfig(bool DirectClassifier, bool WithUnknownModule = false, bool NotAChain = false);

    /// <summary>A tanh with no ONNX writer of the library's.</summary>
    public sealed class Squash() : nn.Module<Tensor, Tensor>("Squash")
    {
        public override Tensor forward(Tensor input) => input.tanh();
    }

    /// <summary>A user's network from the library's layers: a strided scaled WS conv, a gamma activation, NF blocks in a
    /// Sequential, a final conv and activation, and either a <see cref="ClassifierHead"/> or a direct classifier.</summary>
    public sealed class LayerBuiltNet : ImageClassifier
    {
        private readonly ScaledWSConv2d stem;
        private readonly ScaledActivation stem_act;
        private readonly nn.Module<Tensor, Tensor>? squash;
        private readonly Sequential stages;
        private readonly ScaledWSConv2d final_conv;
        private readonly ScaledActivation final_act;
        private readonly ClassifierHead? head;
        private readonly LinearClassifier _classifier;
        private readonly LayerBuiltConfig _config;

        public LayerBuiltNet(LayerBuiltConfig config) : base("layer_built_net")
        {
            _config = config;
            stem = new ScaledWSConv2d(3, Blocks.StemChannels, 3, stride: 2);
            stem_act = new ScaledActivation(ActivationKind.Gelu);
            if (config.WithUnknownModule) squash = new Squash();
            stages = nn.Sequential(NFBlockSpec.Schedule(Blocks).Select(s => (nn.Module<Tensor, Tensor>)new NFBlock(s, Blocks)).ToArray());
            final_conv = new ScaledWSConv2d(Blocks.StageWidth(1), 48, 1);
            final_act = new ScaledActivation(ActivationKind.Relu);
            if (!config.DirectClassifier) head = new ClassifierHead(48, 5, 0.0);
            RegisterComponents();
            _classifier = head?.Classifier ?? new LinearClassifier(this, "fc", "fc", 48, 5, LinearClassifier.NormalInit(0.01));
        }

        public override int InChannels => 3;
        public override int NumFeatures => 48;
        public override object Configuration => _config;
        protected override LinearClassifier Classifier => _classifier;
        protected override long CountFeatureMacs(int height, int width) => 0; // not what these tests are about

        public override Tensor forward_features(Tensor images)
        {
            using var scope = NewDisposeScope();
            var x = stem_act.call(stem.call(images));
            if (squash is not null) x = squash.call(x);
            var y = stages.call(x);
            if (_config.NotAChain) y = y.Times(2.0);   // not a chain of children: the exporter must refuse it
            return final_act.call(final_conv.call(y)).MoveToOuterDisposeScope();
        }

        public override Tensor forward_head(Tensor features, bool preLogits = false) =>
            head is not null ? head.forward(features, preLogits) : preLogits ? GlobalPool.Avg.Apply(features) : _classifier.Apply(GlobalPool.Avg.Apply(features));
    }

    private static LayerBuiltNet Build(LayerBuiltConfig config)
    {
        manual_seed(7);
        var model = new LayerBuiltNet(config);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
            {
                if (name.EndsWith("skipinit_gain")) p.FillInPlace(0.7);   // let every residual branch count
                if (name.EndsWith(".gain")) p.uniform_(0.5, 1.5);
            }
        model.eval();
        return model;
    }

    [Theory]
    [InlineData(false, 40)]   // ClassifierHead (head.fc) inside the chain
    [InlineData(true, 37)]    // the classifier a direct child (fc) after pooling; odd size: asymmetric SAME pads
    public void AUserModelBuiltFromTheLibrarysLayersExportsAndRunsInOnnxRuntime(bool direct, int size)
    {
        using var model = Build(new LayerBuiltConfig(direct));
        var path = Path.Combine(_dir, "user.onnx");
        model.ExportOnnx(path, size, size);
        using var x = randn(2, 3, size, size);
        using var reference = model.forward(x);
        var actual = OnnxExportTests.RunOnnx(path, x, out var shape);
        Assert.Equal(new long[] { 2, 5 }, shape);
        var error = OnnxExportTests.MaxAbs(actual, reference);
        Assert.True(error <= 1e-4, $"max |TorchSharp - ONNX Runtime| = {error:E3}");
        var scale = reference.abs().max().item<float>();
        Assert.True(scale > 1e-3, $"the logits must not be trivially zero (max {scale:E3})");
    }

    [Fact]
    public void AModuleWithoutAWriterIsRefusedByPathUntilAWriterIsRegistered()
    {
        using var model = Build(new LayerBuiltConfig(DirectClassifier: true, WithUnknownModule: true));
        var path = Path.Combine(_dir, "squash.onnx");
        var error = Assert.Throws<OnnxExportException>(() => model.ExportOnnx(path, 32, 32));
        Assert.Contains("Squash at 'squash'", error.Message);
        Assert.False(File.Exists(path));

        OnnxModuleWriters.Register<Squash>((context, _, _, input) => context.Node("Tanh", input));
        model.ExportOnnx(path, 32, 32);
        using var x = randn(1, 3, 32, 32);
        using var reference = model.forward(x);
        var actual = OnnxExportTests.RunOnnx(path, x, out _);
        Assert.True(OnnxExportTests.MaxAbs(actual, reference) <= 1e-4);
    }

    [Fact]
    public void AModelWhoseForwardIsNotItsChildrenInOrderIsRefusedNotExportedWrong()
    {
        using var model = Build(new LayerBuiltConfig(DirectClassifier: false, NotAChain: true));
        var path = Path.Combine(_dir, "not-a-chain.onnx");
        var error = Assert.Throws<OnnxExportException>(() => model.ExportOnnx(path, 32, 32));
        Assert.Contains("LayerBuiltNet's forward is not its children called in order", error.Message);
        Assert.False(File.Exists(path));
    }
}
