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
    private Linear? fc;
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
        fc = CreateClassifier(config.NumClasses, device);
        RegisterComponents();
    }

    // PyTorch's Linear init; the pre-activation form zero-initialises the classifier weight, as the NFNets repository does.
    private Linear? CreateClassifier(int numClasses, Device? device)
    {
        if (numClasses == 0) return null;
        var linear = nn.Linear(NumFeatures, numClasses, device: device);
        if (_config.Form == ResNetForm.PreActivation && !linear.weight!.is_meta) using (no_grad()) linear.weight!.zero_();
        return linear;
    }

    /// <summary>ResNet-50 in the given form.</summary>
    public static BatchNormResNet ResNet50(ResNetForm form = ResNetForm.PostActivationV15, int numClasses = 1000, int inChannels = 3, Device? device = null) =>
        new(new ResNetConfig { Form = form, NumClasses = numClasses, InChannels = inChannels }, device);

    /// <summary>The configuration.</summary>
    public ResNetConfig Config => _config;
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

    /// <inheritdoc />
    public override void ResetClassifier(int numClasses)
    {
        CheckClassCount(numClasses);
        var old = fc;
        fc = CreateClassifier(numClasses, conv1.Weight.device);
        ReplaceClassifier("fc", old, fc, conv1.Weight.dtype);
    }

    /// <summary>Multiply-accumulates of one forward pass on one <paramref name="height"/> × <paramref name="width"/> image (convs and
    /// classifier; BN, pooling and activations excluded, as the literature counts).</summary>
    public override long CountMacs(int height = 224, int width = 224)
    {
        CheckImageSize(height, width);
        long h = height, w = width;
        var macs = conv1.CountMacs(h, w);
        (h, w) = conv1.OutputSize(h, w);
        if (_config.StemPool) (h, w) = ((h + 2 - 3) / 2 + 1, (w + 2 - 3) / 2 + 1);
        var (blocks, _, _) = MacCount.OfChain(layers.children().Cast<IMacCounted>(), h, w);
        return macs + blocks + NumFeatures * NumClasses;
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
        if (fc is not null && !preLogits)
            x = fc.call(Precision.Match(x, fc.weight!.dtype)); // float32 logits from reduced-precision features
        return x.MoveToOuterDisposeScope();
    }
}
