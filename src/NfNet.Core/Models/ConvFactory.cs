using NfNet.Layers;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>Builds the WS convs of a network with the config's padding, formula and epsilon.</summary>
internal static class ConvFactory
{
    public static ScaledWSConv2d Conv(this NFNetConfig config, long inChannels, long outChannels, long kernel,
        long stride = 1, long groups = 1, Device? device = null) =>
        new(inChannels, outChannels, kernel, stride, dilation: 1, groups, hasBias: true, config.Padding,
            config.Standardization, config.StandardizationEps, gamma: 1.0, device);
}
