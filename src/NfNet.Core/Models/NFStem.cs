using NfNet.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// A NormFreeNet stem, built as timm's <c>create_stem</c> builds it from <see cref="NFNetConfig.StemType"/>: the deep
/// stems (<c>deep_quad</c>: width/8 → /4 → /2 → width at strides 2, 1, 1, 2, NFNet-F's) are 3×3 WS convs
/// <c>conv1…convN</c> with an activation <c>act2…actN</c> between them and none after the last; <c>3x3</c> and
/// <c>7x7</c> are one WS conv <c>conv</c> at stride 2; the <c>pool</c> forms end with a 3×3 max pool at stride 2
/// (<c>pool</c>).
/// </summary>
public sealed class NFStem : nn.Module<Tensor, Tensor>
{
    private readonly (ScaledActivation? Before, ScaledWSConv2d Conv)[] _steps;
    private MaxPool2d? pool; // the only field TorchSharp registers (RegisterComponents): it comes after the convs

    /// <summary>Builds the stem of <paramref name="config"/>.</summary>
    public NFStem(NFNetConfig config, Device? device = null) : base(nameof(NFStem))
    {
        var convs = StemTypes.Convs(config.StemType, config.StemChannels);
        var deep = convs.Count > 1;
        _steps = new (ScaledActivation?, ScaledWSConv2d)[convs.Count];
        long inChannels = config.InChannels;
        for (var i = 0; i < convs.Count; i++)
        {
            var (width, kernel, stride) = convs[i];
            ScaledActivation? before = null;
            if (i > 0)
            {
                before = config.Act();
                register_module($"act{i + 1}", before);
            }
            var conv = config.Conv(inChannels, width, kernel, stride, device: device);
            register_module(deep ? $"conv{i + 1}" : "conv", conv);
            _steps[i] = (before, conv);
            inChannels = width;
        }
        pool = StemTypes.Pools(config.StemType) ? nn.MaxPool2d(3, 2, 1) : null;
        RegisterComponents();
        OutChannels = inChannels;
    }

    /// <summary>The first convolution's weight (where the image goes in: its device and dtype are the model's).</summary>
    public Parameter FirstWeight => _steps[0].Conv.Weight;

    /// <summary>Channels of the stem's output.</summary>
    public long OutChannels { get; }

    /// <summary>Which conv's output is the stem's feature map (timm's stem <c>feature_info</c>): a deep stem's
    /// second-last conv (half the width, stride 2), otherwise the one conv (before the pool).</summary>
    internal int FeatureConv => _steps.Length > 1 ? _steps.Length - 2 : 0;

    /// <summary>The module path of the stem's feature map, under the stem (<c>conv3</c> of <c>deep_quad</c>, <c>conv</c>).</summary>
    internal string FeatureModule => _steps.Length > 1 ? $"conv{FeatureConv + 1}" : "conv";

    /// <summary>Channels of the stem's feature map.</summary>
    internal long FeatureChannels => _steps[FeatureConv].Conv.OutChannels;

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => Forward(input, keepFeature: false).Output;

    /// <summary>The stem's output and its feature map (<see cref="FeatureConv"/>'s output).</summary>
    internal (Tensor Output, Tensor Feature) ForwardWithFeature(Tensor input)
    {
        var (output, feature) = Forward(input, keepFeature: true);
        return (output, feature!);
    }

    private (Tensor Output, Tensor? Feature) Forward(Tensor input, bool keepFeature)
    {
        using var scope = NewDisposeScope();
        var x = input;
        Tensor? feature = null;
        for (var i = 0; i < _steps.Length; i++)
        {
            var (before, conv) = _steps[i];
            // Each activation's gamma (1 when the convs carry it) is folded into the next conv's weight (exact: the conv is linear).
            x = before is null ? conv.call(x) : conv.call(before.ForwardUnscaled(x), before.Gamma);
            if (keepFeature && i == FeatureConv) feature = x.alias().MoveToOuterDisposeScope();
        }
        if (pool is not null) x = pool.call(x);
        return (x.MoveToOuterDisposeScope(), feature);
    }

    /// <summary>MACs for one <paramref name="h"/> × <paramref name="w"/> image (the pool not counted); returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        long macs = 0;
        foreach (var (_, conv) in _steps)
        {
            macs += conv.CountMacs(h, w);
            (h, w) = conv.OutputSize(h, w);
        }
        if (pool is not null) (h, w) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1); // kernel 3, stride 2, padding 1
        return (macs, h, w);
    }
}
