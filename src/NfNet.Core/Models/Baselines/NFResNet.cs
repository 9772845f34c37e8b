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
public sealed class NFResNet : nn.Module<Tensor, Tensor>
{
    private readonly ScaledWSConv2d stem;
    private readonly Sequential blocks;
    private readonly ScaledActivation final_act;
    private readonly Linear? fc;
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
                inChannels = block.OutChannels;
                if (b == 0) expectedStd = 1.0;
                expectedStd = Math.Sqrt(expectedStd * expectedStd + config.Alpha * config.Alpha);
                index++;
            }
        blocks = nn.Sequential(list);
        final_act = new ScaledActivation(config.Activation);
        NumFeatures = inChannels;
        if (config.NumClasses > 0)
        {
            fc = nn.Linear(inChannels, config.NumClasses, device: device);
            if (!fc.weight!.is_meta)
                using (no_grad())
                {
                    nn.init.normal_(fc.weight!, 0.0, 0.01);
                    fc.bias!.zero_();
                }
        }
        RegisterComponents();
    }

    /// <summary>NF-ResNet-50 (25,556,984 parameters for 1000 classes).</summary>
    public static NFResNet NFResNet50(int numClasses = 1000, int inChannels = 3, Device? device = null) =>
        new(new NFResNetConfig { NumClasses = numClasses, InChannels = inChannels }, device);

    /// <summary>The configuration.</summary>
    public NFResNetConfig Config => _config;
    /// <summary>Width of the pooled features.</summary>
    public int NumFeatures { get; }
    /// <summary>The residual blocks in order.</summary>
    public IEnumerable<NFResNetBlock> Blocks => blocks.children().Cast<NFResNetBlock>();

    /// <summary>Number of parameter elements.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());

    /// <summary>Multiply-accumulates of one forward pass on one <paramref name="h"/> × <paramref name="w"/> image (convs and classifier).</summary>
    public long CountMacs(long h = 224, long w = 224)
    {
        var macs = stem.CountMacs(h, w);
        (h, w) = stem.OutputSize(h, w);
        if (_config.StemPool) (h, w) = ((h + 1) / 2, (w + 1) / 2);
        var (blockMacs, _, _) = MacCount.OfChain(Blocks, h, w);
        return macs + blockMacs + (long)NumFeatures * _config.NumClasses;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        InvalidInputException.ThrowIfNotImageBatch(input, _config.Name, _config.InChannels, stem.Weight);
        using var scope = NewDisposeScope();
        var x = stem.forward(input);
        if (_config.StemPool) x = nn.functional.max_pool2d(x, 3, 2, 1);
        x = blocks.call(x);
        x = final_act.forward(x).mean(new long[] { 2, 3 });
        if (fc is not null)
        {
            if (training && _config.DropRate > 0) x = nn.functional.dropout(x, _config.DropRate, true);
            x = fc.call(Precision.Match(x, fc.weight!.dtype)); // float32 logits from reduced-precision features
        }
        return x.MoveToOuterDisposeScope();
    }
}
