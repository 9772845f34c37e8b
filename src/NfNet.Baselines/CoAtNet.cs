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
    private Linear? fc;
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
        if (config.NumClasses > 0) fc = nn.Linear(inChannels, config.NumClasses, device: device);
        RegisterComponents();
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
    public override long NumClasses => fc?.out_features ?? 0;
    /// <inheritdoc />
    public override object Configuration => _config;

    /// <inheritdoc />
    public override IReadOnlyList<(string Name, Parameter Parameter)> ClassifierParameters() => ParametersUnder("fc");

    /// <summary>The classifier is replaced with PyTorch's default <c>Linear</c> initialisation; the head's LayerNorm stays.</summary>
    public override void ResetClassifier(int numClasses)
    {
        CheckClassCount(numClasses);
        var old = fc;
        fc = numClasses == 0 ? null : nn.Linear(NumFeatures, numClasses, device: stem_conv1.Weight.device);
        ReplaceClassifier("fc", old, fc, stem_conv1.Weight.dtype);
    }
    /// <summary>The blocks in order.</summary>
    public IReadOnlyList<nn.Module<Tensor, Tensor>> Blocks => stages.children().Cast<nn.Module<Tensor, Tensor>>().ToList();

    /// <summary>Multiply-accumulates of one forward pass on one <paramref name="height"/> × <paramref name="width"/> image (convs, SE,
    /// attention matrix products, MLPs and classifier).</summary>
    public override long CountMacs(int height = 224, int width = 224)
    {
        CheckImageSize(height, width);
        long h = height, w = width;
        var macs = stem_conv1.CountMacs(h, w);
        (h, w) = stem_conv1.OutputSize(h, w);
        macs += stem_conv2.CountMacs(h, w);
        var (blocks, _, _) = MacCount.OfChain(stages.children().Cast<IMacCounted>(), h, w);
        return macs + blocks + NumFeatures * NumClasses;
    }

    /// <inheritdoc />
    public override Tensor forward_features(Tensor input)
    {
        InvalidInputException.ThrowIfNotImageBatch(input, _config.Name, _config.InChannels, stem_conv1.Weight);
        var minimum = _config.StrideAfterStage(_config.Widths.Count - 1);
        if (input.shape[2] < minimum || input.shape[3] < minimum)
            throw new InvalidInputException($"{_config.Name} needs images of at least {minimum}×{minimum} (its total stride), got {input.shape[2]}×{input.shape[3]}", nameof(input));
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
        if (fc is not null && !preLogits)
        {
            x = fc.call(Precision.Match(x, fc.weight!.dtype)); // float32 logits from reduced-precision features
        }
        return x.MoveToOuterDisposeScope();
    }
}
