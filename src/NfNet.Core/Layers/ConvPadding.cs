namespace NfNet.Layers;

/// <summary>How a <see cref="ScaledWSConv2d"/> pads its input.</summary>
public enum ConvPadding
{
    /// <summary>TensorFlow "SAME" (see <see cref="SamePadding"/>): what DeepMind's and timm's <c>dm_nfnet_*</c> weights expect.</summary>
    Same,

    /// <summary>PyTorch-style symmetric <c>((s − 1) + d·(k − 1)) / 2</c>, as timm's non-dm <c>nfnet_*</c> models use.</summary>
    Symmetric,
}
