using NfNet.Devices;
using NfNet.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models.Baselines;

/// <summary>
/// The normalizer-free ResNet (NF-ResNet; <see cref="NFResNetConfig"/>): the ResNet-50 layout without batch norm, whose
/// residual blocks are scaled so that the signal variance is predictable at initialisation. Expected variance starts
/// at 1, grows by alpha² per block and resets to 1 after each stage's first block, whose shortcut is a convolution on the
/// pre-activated input. The stem is a 7×7/2 scaled WS conv (no bias) and a 3×3/2 max-pool; the head is act → global
/// average pool → dropout → linear (N(0, 0.01) weights, zero bias). NF-ResNet-50 has 25,556,984 parameters.
/// </summary>
public sealed class NFResNet : ImageClassifier, IResidualTrunk
{
    private readonly ScaledWSConv2d stem;
    private readonly Sequential blocks;
    private readonly ScaledActivation final_act;
    private readonly LinearClassifier _classifier;
    private readonly NFResNetConfig _config;

    /// <summary>Builds the network for <paramref name="config"/>.</summary>
    public NFResNet(NFResNetConfig config, Device? device = null) : base(config.Name)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        stem = new ScaledWSConv2d(config.InChannels, config.StemWidth, 7, 2, hasBias: false, standardization: config.Standardization, device: device);
        var list = new List<(string, nn.Module<Tensor, Tensor>)>();
        var inChannels = config.StemWidth;
        var total = config.Depths.Sum();
        var index = 0;
        var expectedStd = 1.0;
        for (var s = 0; s < config.Depths.Count; s++)
            for (var b = 0; b < config.Depths[s]; b++)
            {
                var stride = b == 0 && s > 0 ? 2 : 1;
                var rate = config.StochasticDepthRate * index / total;
                var block = new NFResNetBlock(inChannels, config.Widths[s], stride, 1.0 / expectedStd, rate, config, device);
                list.Add(($"{s}_{b}", block));
                block.BlockName = $"blocks.{s}_{b}";
                inChannels = block.OutChannels;
                if (b == 0) expectedStd = 1.0;
                expectedStd = Math.Sqrt(expectedStd * expectedStd + config.Alpha * config.Alpha);
                index++;
            }
        blocks = nn.Sequential(list);
        final_act = new ScaledActivation(config.Activation);
        NumFeatures = inChannels;
        RegisterComponents();
        // N(0, 0.01) weights and zero bias, as DeepMind's NF-ResNets.
        _classifier = new LinearClassifier(this, "fc", "fc", NumFeatures, config.NumClasses, LinearClassifier.NormalInit(0.01), device);
    }

    /// <summary>NF-ResNet-50 (25,556,984 parameters for 1000 classes).</summary>
    public static NFResNet NFResNet50(int numClasses = 1000, int inChannels = 3, Device? device = null) =>
        new(new NFResNetConfig { NumClasses = numClasses, InChannels = inChannels }, device);

    /// <summary>The configuration.</summary>
    public NFResNetConfig Config => _config;
    /// <summary>Width of the pooled features.</summary>
    public override int NumFeatures { get; }
    /// <inheritdoc />
    public override int InChannels => _config.InChannels;
    /// <inheritdoc />
    public override object Configuration => _config;

    /// <summary>The data configuration timm publishes for its <c>nf_resnet50.ra2_in1k</c> (256 px training, 288 px
    /// evaluation, bicubic, crop 0.94); those weights are timm's layout of NF-ResNet-50, not this DeepMind one, and do not
    /// load into it.</summary>
    public override PretrainedConfig PretrainedConfig { get; } =
        new(256, 288, "bicubic", PretrainedConfig.ImageNetMean, PretrainedConfig.ImageNetStd, 0.94);
    /// <summary>The residual blocks in order.</summary>
    public IEnumerable<NFResNetBlock> Blocks => blocks.children().Cast<NFResNetBlock>();

    /// <inheritdoc />
    IReadOnlyList<IResidualBlock> IResidualTrunk.ResidualBlocks => Blocks.ToArray();

    /// <inheritdoc />
    protected override LinearClassifier Classifier => _classifier;

    /// <summary>Every block's <c>skipinit_gain</c> (initialised to 0).</summary>
    public override IReadOnlyList<(string Name, Parameter Parameter)> ResidualGainParameters() =>
        Blocks.Select(b => ($"{b.BlockName}.skipinit_gain", b.SkipInitGain)).ToArray();

    /// <summary>The trunk's multiply-accumulates on one <paramref name="height"/> × <paramref name="width"/> image (convs; the classifier's are added by <see cref="ImageClassifier.CountMacs(int, int)"/>).</summary>
    protected override long CountFeatureMacs(int height, int width)
    {
        long h = height, w = width;
        var macs = stem.CountMacs(h, w);
        (h, w) = stem.OutputSize(h, w);
        if (_config.StemPool) (h, w) = ((h + 1) / 2, (w + 1) / 2);
        var (blockMacs, _, _) = MacCount.OfChain(Blocks, h, w);
        return macs + blockMacs;
    }

    /// <inheritdoc />
    public Tensor ForwardStem(Tensor images)
    {
        InvalidInputException.ThrowIfNotImageBatch(images, _config.Name, _config.InChannels, stem.Weight);
        using var scope = NewDisposeScope();
        var x = stem.call(images);
        if (_config.StemPool) x = nn.functional.max_pool2d(x, 3, 2, 1);
        return x.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward_features(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = blocks.call(ForwardStem(input));
        return final_act.call(x).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward_head(Tensor features, bool preLogits = false)
    {
        using var scope = NewDisposeScope();
        var x = features.mean(new long[] { 2, 3 });
        if (!preLogits)
        {
            if (training && _config.DropRate > 0 && NumClasses > 0) x = nn.functional.dropout(x, _config.DropRate, true);
            x = _classifier.Apply(x);
        }
        return x.MoveToOuterDisposeScope();
    }
}
