using NfNet.Devices;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// A plain 2-D convolution (weight [O, I/g, k, k], optional bias; Kaiming-normal fan-out init as torchvision ResNets)
/// whose CPU kernels go through the same verified path as <see cref="ScaledWSConv2d"/>, so narrow channels (an RGB stem)
/// are computed correctly on libtorch 2.10 CPUs. State-dict names are PyTorch's (<c>weight</c>, <c>bias</c>). Computes
/// in the input's dtype (mixed precision).
/// </summary>
public sealed class GuardedConv2d : nn.Module<Tensor, Tensor>
{
    private Parameter weight;
    private Parameter? bias;
    private readonly long[] _stride;
    private readonly long[] _padding;
    private readonly long[] _dilation = { 1, 1 };

    /// <summary>Creates the convolution with symmetric padding <paramref name="padding"/>.</summary>
    public GuardedConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long groups = 1,
        bool hasBias = false, Device? device = null) : base(nameof(GuardedConv2d))
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0 || groups <= 0 ||
            inChannels % groups != 0 || outChannels % groups != 0)
            throw new InvalidNFNetConfigException($"GuardedConv2d: invalid sizes in={inChannels} out={outChannels} k={kernelSize} s={stride} g={groups}");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Groups = groups;
        _stride = new[] { stride, stride };
        _padding = new[] { padding, padding };
        weight = new Parameter(empty(new[] { outChannels, inChannels / groups, kernelSize, kernelSize }, device: device));
        using (no_grad())
            if (!weight.is_meta) nn.init.kaiming_normal_(weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
        bias = hasBias ? new Parameter(zeros(outChannels, device: device)) : null;
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public long InChannels { get; }
    /// <summary>Output channels.</summary>
    public long OutChannels { get; }
    /// <summary>Kernel size.</summary>
    public long KernelSize { get; }
    /// <summary>Stride.</summary>
    public long Stride { get; }
    /// <summary>Groups.</summary>
    public long Groups { get; }
    /// <summary>Symmetric zero padding on each side.</summary>
    public long Padding => _padding[0];
    /// <summary>The kernel.</summary>
    public Parameter Weight => weight;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4 || input.size(1) != InChannels)
            throw new InvalidInputException($"GuardedConv2d expected [N, {InChannels}, H, W], got {InvalidInputException.Describe(Shapes.Of(input))}", nameof(input));
        using var scope = NewDisposeScope();
        var dtype = input.is_floating_point() ? input.dtype : weight.dtype;
        var b = bias is null ? null : Precision.Match(bias, dtype);
        return ConvolutionBackend.Conv2d(input, Precision.Match(weight, dtype), b, _stride, _padding, _dilation, Groups).MoveToOuterDisposeScope();
    }

    /// <summary>Output size for an input of <paramref name="h"/> × <paramref name="w"/>.</summary>
    public (long H, long W) OutputSize(long h, long w) =>
        ((h + 2 * _padding[0] - KernelSize) / Stride + 1, (w + 2 * _padding[1] - KernelSize) / Stride + 1);

    /// <summary>MACs for one image of <paramref name="h"/> × <paramref name="w"/>.</summary>
    public long CountMacs(long h, long w)
    {
        var (oh, ow) = OutputSize(h, w);
        return oh * ow * OutChannels * (InChannels / Groups) * KernelSize * KernelSize;
    }
}
