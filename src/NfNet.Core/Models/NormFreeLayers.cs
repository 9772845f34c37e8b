using NfNet.Layers;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>The layers of a NormFreeNet as its configuration makes them (timm's <c>conv_layer</c>, <c>act_layer</c> and
/// <c>attn_layer</c> partials): the one place that says where γ goes and which attention a block gets.</summary>
internal static class NormFreeLayers
{
    /// <summary>A scaled WS conv with the configuration's padding, formula and epsilon; with γ outside the activations
    /// (<see cref="NFNetConfig.GammaInActivation"/> false) the activation's γ multiplies its weight scale.</summary>
    public static ScaledWSConv2d Conv(this NFNetConfig config, long inChannels, long outChannels, long kernel,
        long stride = 1, long groups = 1, Device? device = null, long dilation = 1) =>
        new(inChannels, outChannels, kernel, stride, dilation, groups, hasBias: true, config.Padding,
            config.Standardization, config.StandardizationEps,
            gamma: config.GammaInActivation ? 1.0 : ActivationGammas.Of(config.Activation), device);

    /// <summary>The trunk activation: γ-scaled where the configuration puts γ in the activations, plain otherwise.</summary>
    public static ScaledActivation Act(this NFNetConfig config) =>
        new(config.Activation, config.GammaInActivation ? null : 1.0);

    /// <summary>The block's channel attention on <paramref name="channels"/> channels (Squeeze-Excite with
    /// <paramref name="seHidden"/> hidden units, ECA, or none), its gate multiplied by the configuration's gain.</summary>
    public static nn.Module<Tensor, Tensor>? Attention(this NFNetConfig config, long channels, long seHidden, Device? device) =>
        config.AttentionLayer switch
        {
            null or "" => null,
            AttentionLayers.SqueezeExcite => new SqueezeExcite(channels, seHidden, config.AttentionGain, device),
            AttentionLayers.EfficientChannel => new EfficientChannelAttention(channels, config.AttentionGain, device),
            var other => throw new InvalidNFNetConfigException($"NFNetConfig '{config.Name}': attention '{other}' is not built here", nameof(NFNetConfig.AttentionLayer)),
        };
}
