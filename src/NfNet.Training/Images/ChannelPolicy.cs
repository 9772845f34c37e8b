using NfNet.Models;

namespace NfNet.Training.Images;

/// <summary>
/// How decoded images are matched to a model's input channels, whatever the file holds (grey, RGB, RGBA): grey files are
/// replicated to RGB for a 3-channel model; RGB files are reduced to ITU-R BT.601 luma (PIL's <c>convert("L")</c>:
/// <c>(299·R + 587·G + 114·B) / 1000</c>) for a 1-channel model; alpha is handled by <see cref="Alpha"/>.
/// </summary>
/// <param name="Channels">The model's input channels: 1 or 3.</param>
/// <param name="Alpha">Transparency handling.</param>
public sealed record ChannelPolicy(int Channels, AlphaPolicy Alpha = AlphaPolicy.Drop)
{
    /// <summary>The model's input channels: 1 (grey) or 3 (RGB).</summary>
    public int Channels { get; } = Channels is 1 or 3
        ? Channels
        : throw new ArgumentOutOfRangeException(nameof(Channels), Channels, "image models take 1 (grey) or 3 (RGB) channels");

    /// <summary>RGB, alpha dropped (torchvision's <c>ImageFolder</c> default).</summary>
    public static ChannelPolicy Rgb { get; } = new(3);

    /// <summary>Grey (luma), alpha dropped.</summary>
    public static ChannelPolicy Grey { get; } = new(1);

    /// <summary>The policy for <paramref name="model"/>'s <see cref="ImageClassifier.InChannels"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The model takes neither 1 nor 3 channels.</exception>
    public static ChannelPolicy ForModel(ImageClassifier model, AlphaPolicy alpha = AlphaPolicy.Drop)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new ChannelPolicy(model.InChannels, alpha);
    }
}
