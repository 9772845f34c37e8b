using NfNet.Devices;
using NfNet.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BatchNorm2d = NfNet.Layers.BatchNorm2d;

namespace NfNet.Models.Baselines;

/// <summary>
/// CoAtNet (Dai, Liu, Le, Tan 2021; seed-systems spec (c)) from a <see cref="CoAtNetConfig"/>: stem (3×3/2 conv → BN →
/// GELU → 3×3 conv with bias), <see cref="CoAtNetMBConv"/> stages, then <see cref="CoAtNetTransformerBlock"/> stages with
/// global relative attention, each stage's first block halving the resolution; head: global average pool → LayerNorm →
/// linear. CoAtNet-0 at 224 has 24,446,292 parameters with this plain head (timm's 768-wide MLP head gives ≈25.0M)
/// and 4.55 GMACs (the stride sits in the depthwise conv, as in timm).
/// </summary>
public sealed class CoAtNet : ImageClassifier
{
    private readonly GuardedConv2d stem_conv1;
    private readonly BatchNorm2d stem_bn;
    private readonly GuardedConv2d stem_conv2;
    private readonly Sequential stages;
    private readonly LayerNorm head_norm;
    private readonly LinearClassifier _classifier;
    private readonly CoAtNetConfig _config;

    /// <summary>Builds the network for <paramref name="config"/>.</summary>
    public CoAtNet(CoAtNetConfig config, Device? device = null) : base(config.Name)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        stem_conv1 = new GuardedConv2d(config.InChannels, config.StemWidth, 3, config.StemStride, 1, device: device);
        stem_bn = new BatchNorm2d(config.StemWidth, config.BatchNormEps, config.BatchNormMomentum, device: device);
        stem_conv2 = new GuardedConv2d(config.StemWidth, config.StemWidth, 3, 1, 1, hasBias: true, device: device);
        var total = config.Depths.Sum();
        var list = new List<(string, nn.Module<Tensor, Tensor>)>();
        var inChannels = config.StemWidth;
        var index = 0;
        for (var s = 0; s < config.Widths.Count; s++)
        {
            // Token grid of a transformer stage: the configured image size over the stage's total stride (at least 1).
            var grid = Math.Max(1, config.ImageSize / config.StrideAfterStage(s));
            for (var b = 0; b < config.Depths[s]; b++)
            {
                var stride = b == 0 ? 2 : 1;
                var rate = config.StochasticDepthRate * index / total;
                nn.Module<Tensor, Tensor> block = s < config.ConvStages
                    ? new CoAtNetMBConv(inChannels, config.Widths[s], stride, rate, config, device)
                    : new CoAtNetTransformerBlock(inChannels, config.Widths[s], stride, grid, grid, rate, config, device);
                list.Add(($"{s}_{b}", block));
                inChannels = config.Widths[s];
                index++;
            }
        }
        stages = nn.Sequential(list);
        NumFeatures = inChannels;
        head_norm = nn.LayerNorm(inChannels, config.LayerNormEps, device: device);
        RegisterComponents();
        _classifier = new LinearClassifier(this, "fc", "fc", inChannels, config.NumClasses, init: null, device); // PyTorch's Linear init
    }

    /// <summary>CoAtNet-0.</summary>
    public static CoAtNet CoAtNet0(int numClasses = 1000, int inChannels = 3, int imageSize = 224, Device? device = null) =>
        new(CoAtNetConfig.CoAtNet0(numClasses, inChannels, imageSize), device);

    /// <summary>The configuration.</summary>
    public CoAtNetConfig Config => _config;
    /// <summary>Width of the pooled features.</summary>
    public override int NumFeatures { get; }
    /// <inheritdoc />
    public override int InChannels => _config.InChannels;
    /// <inheritdoc />
    public override object Configuration => _config;

    /// <summary>The configured image size for training and evaluation, bicubic, crop 0.95 (timm's CoAtNet configurations).</summary>
    public override PretrainedConfig PretrainedConfig =>
        new(_config.ImageSize, _config.ImageSize, "bicubic", PretrainedConfig.ImageNetMean, PretrainedConfig.ImageNetStd, 0.95);

    /// <summary>The classifier, with PyTorch's default <c>Linear</c> initialisation (a reset keeps the head's LayerNorm).</summary>
    protected override LinearClassifier Classifier => _classifier;

    /// <summary>The blocks in order.</summary>
    public IReadOnlyList<nn.Module<Tensor, Tensor>> Blocks => stages.children().Cast<nn.Module<Tensor, Tensor>>().ToList();

    /// <summary>The trunk's multiply-accumulates on one <paramref name="height"/> × <paramref name="width"/> image (convs, SE,
    /// attention matrix products, MLPs; the classifier's are added by <see cref="ImageClassifier.CountMacs(int, int)"/>).</summary>
    protected override long CountFeatureMacs(int height, int width)
    {
        long h = height, w = width;
        var macs = stem_conv1.CountMacs(h, w);
        (h, w) = stem_conv1.OutputSize(h, w);
        macs += stem_conv2.CountMacs(h, w);
        var (blocks, _, _) = MacCount.OfChain(stages.children().Cast<IMacCounted>(), h, w);
        return macs + blocks;
    }

    /// <inheritdoc />
    public override Tensor forward_features(Tensor input)
    {
        InvalidInputException.ThrowIfNotImageBatch(input, _config.Name, _config.InChannels, stem_conv1.Weight);
        var minimum = _config.StrideAfterStage(_config.Widths.Count - 1);
        if (input.size(2) < minimum || input.size(3) < minimum)
            throw new InvalidInputException($"{_config.Name} needs images of at least {minimum}×{minimum} (its total stride), got {input.size(2)}×{input.size(3)}", nameof(input));
        using var scope = NewDisposeScope();
        var x = nn.functional.gelu(stem_bn.call(stem_conv1.call(input)));
        x = stem_conv2.call(x);
        return stages.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>Pool → LayerNorm (pre-logits) → classifier.</summary>
    public override Tensor forward_head(Tensor features, bool preLogits = false)
    {
        using var scope = NewDisposeScope();
        var x = features.mean(new long[] { 2, 3 });
        x = nn.functional.layer_norm(x, new[] { (long)NumFeatures }, Precision.Match(head_norm.weight!, x.dtype),
            Precision.Match(head_norm.bias!, x.dtype), _config.LayerNormEps);
        if (!preLogits) x = _classifier.Apply(x);
        return x.MoveToOuterDisposeScope();
    }
}
