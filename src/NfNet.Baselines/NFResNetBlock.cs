using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models.Baselines;

/// <summary>
/// The normalizer-free pre-activation bottleneck (DeepMind <c>NFResBlock</c>):
/// <code>
/// a  = act(x) · beta
/// sc = conv_shortcut(a)  when the stride or the width changes, else x
/// h  = conv0 (1×1) → act → conv1 (3×3, stride) → act → conv2 (1×1)
/// y  = alpha · skipinit_gain · stochastic_depth(h) + sc
/// </code>
/// All convolutions are <see cref="ScaledWSConv2d"/> (bias and gain); <c>skipinit_gain</c> (DeepMind: <c>skip_gain</c>) is a scalar initialised to 0, named as in NFNets so the optimizer recipes treat it alike.
/// </summary>
public sealed class NFResNetBlock : nn.Module<Tensor, Tensor>, IMacCounted, IResidualBlock
{
    private Parameter skipinit_gain;
    private ScaledWSConv2d? conv_shortcut;
    private ScaledWSConv2d conv0, conv1, conv2;
    private ScaledActivation act;
    private StochasticDepth drop_path;

    /// <summary>Creates the block.</summary>
    public NFResNetBlock(int inChannels, int width, int stride, double beta, double stochasticDepthRate, NFResNetConfig c, Device? device = null)
        : base(nameof(NFResNetBlock))
    {
        var outChannels = width * c.Expansion;
        InChannels = inChannels;
        OutChannels = outChannels;
        Stride = stride;
        Beta = beta;
        Alpha = c.Alpha;
        skipinit_gain = new Parameter(zeros(Array.Empty<long>(), device: device));
        ScaledWSConv2d Conv(long i, long o, long k, long s = 1) =>
            new(i, o, k, s, standardization: c.Standardization, device: device);
        if (stride != 1 || inChannels != outChannels) conv_shortcut = Conv(inChannels, outChannels, 1, stride);
        conv0 = Conv(inChannels, width, 1);
        conv1 = Conv(width, width, 3, stride);
        conv2 = Conv(width, outChannels, 1);
        act = new ScaledActivation(c.Activation);
        drop_path = new StochasticDepth(stochasticDepthRate);
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Stride of the 3×3 conv and the shortcut.</summary>
    public int Stride { get; }
    /// <summary>Input pre-multiplier 1/expected std.</summary>
    public double Beta { get; }
    /// <summary>Residual branch scale.</summary>
    public double Alpha { get; }
    /// <summary>The learnable residual gain (0-dim, init 0).</summary>
    public Parameter SkipInitGain => skipinit_gain;
    /// <summary>The block's state-dict prefix in its network (set by <see cref="NFResNet"/>).</summary>
    public string BlockName { get; internal set; } = "";

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => Forward(x, keepBranch: false).Output;

    /// <summary>The output and the residual branch <c>h</c> (before stochastic depth, α and <c>skipinit_gain</c>).</summary>
    public (Tensor Output, Tensor Branch) ForwardWithBranch(Tensor x) => Forward(x, keepBranch: true);

    private (Tensor Output, Tensor Branch) Forward(Tensor x, bool keepBranch)
    {
        using var scope = NewDisposeScope();
        // Constant factors are folded as in NFBlock: gamma and beta into the next conv's standardized weight, and the
        // stochastic-depth mask and alpha · skipinit_gain into one small factor that addcmul applies with the add.
        var a = act.ForwardUnscaled(x);
        var aScale = act.Gamma * Beta;
        var shortcut = conv_shortcut is null ? x : conv_shortcut.call(a, aScale);
        var h = conv0.call(a, aScale);
        h = conv1.call(act.ForwardUnscaled(h), act.Gamma);
        h = conv2.call(act.ForwardUnscaled(h), act.Gamma);
        var gate = skipinit_gain.Times(Alpha).to(h.dtype);
        if (drop_path.Mask(h) is { } mask) gate = mask * gate;
        using var one = 1.0.ToScalar();
        var output = addcmul(shortcut, h, gate, one).MoveToOuterDisposeScope();
        return (output, keepBranch ? h.MoveToOuterDisposeScope() : output);
    }

    /// <summary>MACs for one image whose block input is <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        var macs = conv0.CountMacs(h, w) + conv1.CountMacs(h, w);
        var (oh, ow) = conv1.OutputSize(h, w);
        macs += conv2.CountMacs(oh, ow);
        if (conv_shortcut is not null) macs += conv_shortcut.CountMacs(h, w);
        return (macs, oh, ow);
    }
}
