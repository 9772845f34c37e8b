using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// The NormFreeNet pre-activation bottleneck block (Brock et al. 2021, Fig. 2; timm <c>NormFreeBlock</c>), every family
/// member's:
/// <code>
/// a  = act1(x) · beta
/// sc = downsample(a)   (transition block)   or   x   (un-activated input)
/// h  = conv1(a) → act2 → conv2 (grouped 3×3, stride) [→ act2b → conv2b] [→ attn · gain (RegNet)] → act3 → conv3
/// h  = attn_last(h) · gain (ResNet, F) ;  h = stochastic_depth(h) ;  y = alpha · [skipinit_gain ·] h + sc
/// </code>
/// With <c>skipinit</c> a learnable scalar initialised to 0 starts every block as the identity (or the shortcut conv);
/// without it, as in timm's own models, <c>conv3</c>'s gain starts at 0 instead. γ is in the activations or in the
/// convolutions as the configuration says (<see cref="NFNetConfig.GammaInActivation"/>). Module and parameter names
/// are timm's.
/// </summary>
public sealed class NFBlock : nn.Module<Tensor, Tensor>, IMacCounted, IResidualBlock
{
    // Field order is state-dict order: skipinit_gain (own parameter) first, then the children as timm registers them.
    private Parameter? skipinit_gain;
    private DownsampleAvg? downsample;
    private ScaledActivation act1;
    private ScaledWSConv2d conv1;
    private ScaledActivation act2;
    private ScaledWSConv2d conv2;
    private ScaledActivation? act2b;
    private ScaledWSConv2d? conv2b;
    private nn.Module<Tensor, Tensor>? attn;
    private ScaledActivation act3;
    private ScaledWSConv2d conv3;
    private nn.Module<Tensor, Tensor>? attn_last;
    private StochasticDepth drop_path;

    /// <summary>Builds the block described by <paramref name="spec"/> with <paramref name="config"/>'s layer options.</summary>
    public NFBlock(NFBlockSpec spec, NFNetConfig config, Device? device = null) : base(nameof(NFBlock))
    {
        Spec = spec;
        skipinit_gain = config.SkipInit ? new Parameter(zeros(Array.Empty<long>(), device: device)) : null;
        downsample = spec.IsTransition ? new DownsampleAvg(spec, config, device) : null;
        act1 = config.Act();
        conv1 = config.Conv(spec.InChannels, spec.MidChannels, 1, device: device);
        act2 = config.Act();
        conv2 = config.Conv(spec.MidChannels, spec.MidChannels, 3, spec.Stride, spec.Groups, device, spec.FirstDilation);
        if (config.ExtraConv)
        {
            act2b = config.Act();
            conv2b = config.Conv(spec.MidChannels, spec.MidChannels, 3, 1, spec.Groups, device, spec.Dilation);
        }
        var attention = config.Attention(spec.AttentionChannels, spec.SeChannels, device);
        if (config.Reg) attn = attention; else attn_last = attention;
        act3 = config.Act();
        conv3 = config.Conv(spec.MidChannels, spec.OutChannels, 1, device: device);
        if (!config.SkipInit)
            using (no_grad()) conv3.Gain.zero_(); // timm's gain_init=0: the branch starts silent without skipinit
        drop_path = new StochasticDepth(spec.StochasticDepthRate, config.StochasticDepthMode);
        RegisterComponents();
    }

    /// <summary>The block's constants (channels, stride, groups, beta, alpha, drop rate).</summary>
    public NFBlockSpec Spec { get; }

    /// <inheritdoc />
    public string BlockName => Spec.Name;

    /// <summary>The learnable residual gain (0-dim, init 0), or null in a network without skipinit.</summary>
    public Parameter? SkipInitGain => skipinit_gain;

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => Forward(input, keepBranch: false).Output;

    /// <summary>
    /// The block's output and its residual branch before the <c>alpha · skipinit_gain</c> scaling (for signal-propagation
    /// plots; see <c>NfNet.Training.Reporting.SignalPropagation</c>).
    /// </summary>
    public (Tensor Output, Tensor Branch) ForwardWithBranch(Tensor input)
    {
        var (output, branch) = Forward(input, keepBranch: true);
        return (output, branch!);
    }

    private (Tensor Output, Tensor? Branch) Forward(Tensor input, bool keepBranch)
    {
        using var scope = NewDisposeScope();
        // The constant factors are folded into small tensors, which saves passes over the activations (the result is
        // the formula above, up to rounding):
        // - each activation's gamma, and beta, go into the next conv's standardized weight (a conv is linear);
        // - the last attention's gate, the stochastic-depth mask, alpha and skipinit_gain multiply one small gate, and
        //   one addcmul applies it and adds the shortcut.
        var a = act1.ForwardUnscaled(input);
        var aScale = act1.Gamma * Spec.Beta;
        var shortcut = downsample is null ? input : downsample.call(a, aScale);
        var h = conv1.call(a, aScale);
        h = conv2.call(act2.ForwardUnscaled(h), act2.Gamma);
        if (conv2b is not null) h = conv2b.call(act2b!.ForwardUnscaled(h), act2b.Gamma);
        if (attn is not null) h = h * ((IChannelGate)attn).Gate(h);
        h = conv3.call(act3.ForwardUnscaled(h), act3.Gamma);
        var gate = attn_last is null ? null : ((IChannelGate)attn_last).Gate(h);
        if (drop_path.Mask(h) is { } mask) gate = gate is null ? mask : gate * mask;
        var branch = keepBranch ? (gate is null ? h.alias() : h * gate).MoveToOuterDisposeScope() : null;
        var residual = skipinit_gain is null
            ? tensor(Spec.Alpha, h.dtype, h.device)
            : skipinit_gain.Times(Spec.Alpha).to(h.dtype);
        gate = gate is null ? residual : gate * residual;
        var output = addcmul(shortcut, h, gate, Scalars.One);
        return (output.MoveToOuterDisposeScope(), branch);
    }

    /// <summary>MACs for one image whose block input is <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    public (long Macs, long H, long W) CountMacs(long h, long w)
    {
        var macs = conv1.CountMacs(h, w);
        var (oh, ow) = conv2.OutputSize(h, w);
        macs += conv2.CountMacs(h, w);
        if (conv2b is not null) macs += conv2b.CountMacs(oh, ow);
        macs += conv3.CountMacs(oh, ow);
        if ((attn ?? attn_last) is IChannelGate gate) macs += gate.CountMacs();
        if (downsample is not null) macs += downsample.CountMacs(h, w);
        return (macs, oh, ow);
    }
}
