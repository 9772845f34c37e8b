using NfNet.Devices;
using NfNet.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BatchNorm2d = NfNet.Layers.BatchNorm2d;

namespace NfNet.Models.Baselines;

/// <summary>
/// EfficientNetV2 (Tan &amp; Le 2021; seed-systems spec (b)) built from an <see cref="EfficientNetV2Config"/>:
/// conv_stem (3×3/2) → bn1 → SiLU → blocks (<see cref="FusedMBConv"/> / <see cref="MBConv"/>, only a stage's first block
/// strides and changes width) → conv_head (1×1) → bn2 → SiLU → average pool → dropout → classifier.
/// Convolutions have no bias (except inside SE); padding is symmetric k/2 (TF's "SAME" differs at stride 2 only in which
/// border gets the extra pixel, which matters for loading TF weights, not for training). Init as automl: conv weights
/// N(0, 2/fan_out), classifier U(±1/√classes), zero biases. BN momentum 0.01, eps 1e-3 by default.
/// </summary>
public sealed class EfficientNetV2 : ImageClassifier
{
    private readonly GuardedConv2d conv_stem;
    private readonly BatchNorm2d bn1;
    private readonly Sequential blocks;
    private readonly GuardedConv2d conv_head;
    private readonly BatchNorm2d bn2;
    private readonly LinearClassifier _classifier;
    private readonly EfficientNetV2Config _config;

    /// <summary>Builds the network for <paramref name="config"/>.</summary>
    public EfficientNetV2(EfficientNetV2Config config, Device? device = null) : base(config.Name)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        DropRate = config.DropRate;
        conv_stem = new GuardedConv2d(config.InChannels, config.StemWidth, 3, config.StemStride, 1, device: device);
        bn1 = new BatchNorm2d(config.StemWidth, config.BatchNormEps, config.BatchNormMomentum, device: device);
        var total = config.Stages.Sum(s => s.Layers);
        var list = new List<(string, nn.Module<Tensor, Tensor>)>();
        var inChannels = config.StemWidth;
        var index = 0;
        for (var s = 0; s < config.Stages.Count; s++)
        {
            var stage = config.Stages[s];
            for (var b = 0; b < stage.Layers; b++)
            {
                var stride = b == 0 ? stage.Stride : 1;
                var rate = config.StochasticDepthRate * index / total;
                nn.Module<Tensor, Tensor> block = stage.Kind == EfficientNetBlockKind.MBConv
                    ? new MBConv(inChannels, stage.OutChannels, stage.Expansion, stage.KernelSize, stride, stage.SeRatio, rate, config, device)
                    : new FusedMBConv(inChannels, stage.OutChannels, stage.Expansion, stage.KernelSize, stride, rate, config, device);
                list.Add(($"{s}_{b}", block));
                inChannels = stage.OutChannels;
                index++;
            }
        }
        blocks = nn.Sequential(list);
        conv_head = new GuardedConv2d(inChannels, config.HeadWidth, 1, device: device);
        bn2 = new BatchNorm2d(config.HeadWidth, config.BatchNormEps, config.BatchNormMomentum, device: device);
        RegisterComponents();
        // automl's dense initializer: U(±1/√classes) weights, zero bias.
        _classifier = new LinearClassifier(this, "classifier", "classifier", config.HeadWidth, config.NumClasses, LinearClassifier.UniformByClassesInit, device);
    }

    /// <summary>EfficientNetV2-S.</summary>
    public static EfficientNetV2 S(int numClasses = 1000, int inChannels = 3, Device? device = null) => new(EfficientNetV2Config.S(numClasses, inChannels), device);
    /// <summary>EfficientNetV2-B0.</summary>
    public static EfficientNetV2 B0(int numClasses = 1000, int inChannels = 3, Device? device = null) => new(EfficientNetV2Config.B0(numClasses, inChannels), device);

    /// <summary>The configuration.</summary>
    public EfficientNetV2Config Config => _config;
    /// <summary>The blocks in order (<see cref="FusedMBConv"/> or <see cref="MBConv"/>).</summary>
    public IReadOnlyList<nn.Module<Tensor, Tensor>> Blocks => blocks.children().Cast<nn.Module<Tensor, Tensor>>().ToList();
    /// <summary>Dropout before the classifier; progressive learning may raise it stage by stage.</summary>
    public double DropRate { get; set; }

    /// <inheritdoc />
    public override int NumFeatures => _config.HeadWidth;
    /// <inheritdoc />
    public override int InChannels => _config.InChannels;
    /// <inheritdoc />
    public override object Configuration => _config;

    /// <summary>
    /// The EfficientNetV2 papers' sizes: S trains at 300 px (the last progressive stage) and evaluates at 384 with
    /// inputs scaled to [−1, 1] (mean = std = 0.5, crop 1.0, as timm's <c>tf_efficientnetv2_s</c>) and RandAugment 2 ops
    /// at magnitude 10 (automl's last stage for S); B0 trains at 192 and evaluates at 224 with ImageNet statistics. Other
    /// configurations get timm's defaults.
    /// </summary>
    public override PretrainedConfig PretrainedConfig => _config.Name switch
    {
        "efficientnetv2_s" => new(300, 384, "bicubic", new[] { 0.5, 0.5, 0.5 }, new[] { 0.5, 0.5, 0.5 }, 1.0, RandAugment: new RandAugmentSetting(2, 10)),
        "efficientnetv2_b0" => new(192, 224, "bicubic", PretrainedConfig.ImageNetMean, PretrainedConfig.ImageNetStd, 0.875),
        _ => PretrainedConfig.ImageNetDefault,
    };

    /// <inheritdoc />
    protected override LinearClassifier Classifier => _classifier;

    /// <summary>The trunk's multiply-accumulates on one <paramref name="height"/> × <paramref name="width"/> image (convs and SE; the classifier's are added by <see cref="ImageClassifier.CountMacs(int, int)"/>).</summary>
    protected override long CountFeatureMacs(int height, int width)
    {
        long h = height, w = width;
        var macs = conv_stem.CountMacs(h, w);
        (h, w) = conv_stem.OutputSize(h, w);
        var (blockMacs, oh, ow) = MacCount.OfChain(blocks.children().Cast<IMacCounted>(), h, w);
        return macs + blockMacs + conv_head.CountMacs(oh, ow);
    }

    /// <inheritdoc />
    public override Tensor forward_features(Tensor input)
    {
        InvalidInputException.ThrowIfNotImageBatch(input, _config.Name, _config.InChannels, conv_stem.Weight);
        using var scope = NewDisposeScope();
        var x = nn.functional.silu(bn1.call(conv_stem.call(input)));
        x = blocks.call(x);
        return nn.functional.silu(bn2.call(conv_head.call(x))).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward_head(Tensor features, bool preLogits = false)
    {
        using var scope = NewDisposeScope();
        var x = features.mean(new long[] { 2, 3 });
        if (!preLogits)
        {
            if (training && DropRate > 0 && NumClasses > 0) x = nn.functional.dropout(x, DropRate, true);
            x = _classifier.Apply(x);
        }
        return x.MoveToOuterDisposeScope();
    }
}
