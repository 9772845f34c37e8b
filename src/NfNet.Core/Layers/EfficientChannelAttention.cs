using NfNet.Devices;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// Efficient Channel Attention (Wang et al. 2020, "ECA-Net"; timm <c>EcaModule</c>): global average pool, a 1-D
/// convolution across the channels without bias, sigmoid, and the gate times <see cref="Gain"/> multiplies the input.
/// The kernel width grows with the channels: <c>t = ⌊|log₂C + 1| / 2⌋</c>, the next odd number, at least 3.
/// </summary>
/// <remarks>The weight is <c>conv.weight</c> [1, 1, k], timm's key and shape. The 1-D convolution is computed as
/// k shifted multiply-adds over the zero-padded channel axis (an unfold and a product): a 1-channel convolution is
/// the narrowest there is, and oneDNN's narrow kernels are not trusted (see <c>ConvolutionBackend</c>).</remarks>
public sealed class EfficientChannelAttention : nn.Module<Tensor, Tensor>, IChannelGate
{
    // timm's child name, so that the state-dict key is conv.weight.
    private Kernel1d conv;

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Channels in and out (they set the kernel width).</param>
    /// <param name="gain">Multiplier of the gate (2 in NormFreeNets).</param>
    /// <param name="device">Where to create the parameter.</param>
    /// <exception cref="InvalidNFNetConfigException">Non-positive channels.</exception>
    public EfficientChannelAttention(long channels, double gain = 1.0, Device? device = null) : base(nameof(EfficientChannelAttention))
    {
        if (channels <= 0) throw new InvalidNFNetConfigException($"EfficientChannelAttention needs positive channels, got {channels}");
        Channels = channels;
        Gain = gain;
        KernelSize = KernelSizeFor(channels);
        // PyTorch's Conv1d default, which timm keeps (its NormFreeNet init touches Conv2d and Linear only): U(±1/√k).
        var bound = 1.0 / Math.Sqrt(KernelSize);
        conv = new Kernel1d(new Parameter(empty(new[] { 1L, 1L, KernelSize }, device: device)));
        nn.init.uniform_(conv.Weight, -bound, bound);
        RegisterComponents();
    }

    /// <summary>Channels in and out.</summary>
    public long Channels { get; }

    /// <summary>Width of the 1-D kernel.</summary>
    public long KernelSize { get; }

    /// <summary>Multiplier of the sigmoid gate.</summary>
    public double Gain { get; }

    /// <summary>The 1-D kernel [1, 1, k].</summary>
    public Parameter Weight => conv.Weight;

    /// <summary>timm's kernel width for <paramref name="channels"/> channels (ECA-Net's γ = 2, b = 1).</summary>
    public static long KernelSizeFor(long channels)
    {
        var t = (long)(Math.Abs(Math.Log2(channels) + 1) / 2);
        return Math.Max(t % 2 == 1 ? t : t + 1, 3);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var gate = Gate(input);
        return input * gate;
    }

    /// <summary>The per-channel gate <c>Gain · sigmoid(conv1d(mean(input)))</c>, [N, C, 1, 1].</summary>
    /// <param name="input">[N, <see cref="Channels"/>, H, W].</param>
    public Tensor Gate(Tensor input)
    {
        using var scope = NewDisposeScope();
        var pad = (KernelSize - 1) / 2;
        var pooled = input.mean(new long[] { 2, 3 });                                 // [N, C]
        var padded = nn.functional.pad(pooled, new[] { pad, pad });                    // [N, C + k - 1]
        var windows = padded.unfold(1, KernelSize, 1);                                 // [N, C, k]
        var kernel = Precision.Match(conv.Weight, input.dtype).reshape(KernelSize, 1); // [k, 1]
        var s = nn.functional.sigmoid(windows.matmul(kernel)).reshape(input.size(0), Channels, 1, 1);
        if (Gain != 1.0) s = s.Times(Gain);
        return s.MoveToOuterDisposeScope();
    }

    /// <summary>Multiply-accumulates of the 1-D convolution for one image.</summary>
    public long CountMacs() => Channels * KernelSize;

    // The kernel's holder (a parameter only: the convolution itself is computed by Gate).
    private sealed class Kernel1d : nn.Module
    {
        private Parameter weight;

        public Kernel1d(Parameter weight) : base("Conv1d")
        {
            this.weight = weight;
            RegisterComponents();
        }

        public Parameter Weight => weight;
    }
}

/// <summary>A channel attention whose gate the caller multiplies in (an NF block folds it with its other per-channel
/// factors): <see cref="SqueezeExcite"/> and <see cref="EfficientChannelAttention"/>.</summary>
internal interface IChannelGate
{
    /// <summary>The per-channel gate [N, C, 1, 1], the gain included.</summary>
    Tensor Gate(Tensor input);

    /// <summary>Multiply-accumulates for one image.</summary>
    long CountMacs();
}
