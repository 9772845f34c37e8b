using NfNet.Devices;
using NfNet.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models.Baselines;

/// <summary>
/// The batch-normalized ResNet baseline (seed-systems spec (a)): ResNet-50 v1.5 (25,557,032 parameters, 4.09 GMACs at
/// 224) or the pre-activation form of the NFNets repository (25,549,352). Any depth/width table, class count and input
/// channels. Batch norm normalizes with batch statistics in <c>train()</c> (updating running averages with PyTorch's
/// momentum convention) and with the running averages in <c>eval()</c> — the train/test discrepancy NFNets avoid.
/// </summary>
public sealed class BatchNormResNet : ImageClassifier
{
    private readonly GuardedConv2d conv1;
    private readonly nn.Module<Tensor, Tensor>? bn1;
    private readonly Sequential layers;
    private readonly nn.Module<Tensor, Tensor>? norm_final;
    private readonly LinearClassifier _classifier;
    private readonly ResNetConfig _config;

    /// <summary>Builds the network for <paramref name="config"/>.</summary>
    public BatchNormResNet(ResNetConfig config, Device? device = null) : base(config.Name)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        var pre = config.Form == ResNetForm.PreActivation;
        conv1 = new GuardedConv2d(config.InChannels, config.StemWidth, 7, 2, 3, device: device);
        if (!pre) bn1 = config.Norm(config.StemWidth, device);
        var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
        var inChannels = config.StemWidth;
        for (var s = 0; s < config.Depths.Count; s++)
            for (var b = 0; b < config.Depths[s]; b++)
            {
                var stride = b == 0 && s > 0 ? 2 : 1;
                nn.Module<Tensor, Tensor> block = pre
                    ? new PreActBottleneck(inChannels, config.Widths[s], stride, config, device)
                    : new BottleneckV15(inChannels, config.Widths[s], stride, config, device);
                blocks.Add(($"{s}_{b}", block));
                inChannels = config.Widths[s] * config.Expansion;
            }
        layers = nn.Sequential(blocks);
        NumFeatures = inChannels;
        if (pre) norm_final = config.Norm(inChannels, device);
        RegisterComponents();
        // PyTorch's Linear init; the pre-activation form zero-initialises the classifier weight, as the NFNets repository does.
        _classifier = new LinearClassifier(this, "fc", "fc", NumFeatures, config.NumClasses, pre ? LinearClassifier.ZeroWeightInit : null, device);
    }

    /// <summary>ResNet-50 in the given form.</summary>
    public static BatchNormResNet ResNet50(ResNetForm form = ResNetForm.PostActivationV15, int numClasses = 1000, int inChannels = 3, Device? device = null) =>
        new(new ResNetConfig { Name = form == ResNetForm.PreActivation ? "resnetv2_50" : "resnet50", Form = form, NumClasses = numClasses, InChannels = inChannels }, device);

    /// <summary>The configuration.</summary>
    public ResNetConfig Config => _config;
    /// <summary>Width of the pooled features.</summary>
    public override int NumFeatures { get; }
    /// <inheritdoc />
    public override int InChannels => _config.InChannels;
    /// <inheritdoc />
    public override object Configuration => _config;

    /// <inheritdoc />
    protected override LinearClassifier Classifier => _classifier;

    /// <summary>The trunk's multiply-accumulates on one <paramref name="height"/> × <paramref name="width"/> image (convs; the
    /// classifier's are added by <see cref="ImageClassifier.CountMacs(int, int)"/>; BN, pooling and activations excluded, as the literature counts).</summary>
    protected override long CountFeatureMacs(int height, int width)
    {
        long h = height, w = width;
        var macs = conv1.CountMacs(h, w);
        (h, w) = conv1.OutputSize(h, w);
        if (_config.StemPool) (h, w) = ((h + 2 - 3) / 2 + 1, (w + 2 - 3) / 2 + 1);
        var (blocks, _, _) = MacCount.OfChain(layers.children().Cast<IMacCounted>(), h, w);
        return macs + blocks;
    }

    /// <inheritdoc />
    public override Tensor forward_features(Tensor input)
    {
        InvalidInputException.ThrowIfNotImageBatch(input, _config.Name, _config.InChannels, conv1.Weight);
        using var scope = NewDisposeScope();
        var x = conv1.call(input);
        if (bn1 is not null) x = nn.functional.relu(bn1.call(x));
        if (_config.StemPool) x = nn.functional.max_pool2d(x, 3, 2, 1);
        x = layers.call(x);
        if (norm_final is not null) x = nn.functional.relu(norm_final.call(x));
        return x.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward_head(Tensor features, bool preLogits = false)
    {
        using var scope = NewDisposeScope();
        var x = features.mean(new long[] { 2, 3 });
        if (!preLogits) x = _classifier.Apply(x);
        return x.MoveToOuterDisposeScope();
    }
}
