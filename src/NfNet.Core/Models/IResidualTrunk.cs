using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// A network made of a stem followed by residual blocks, as the signal-propagation plots of Brock et al. 2021a
/// (NF-ResNets, Figure 1) read it: the stem's output, then each block's output and residual branch in order.
/// </summary>
public interface IResidualTrunk
{
    /// <summary>The stem's output for images [N, C, H, W] (the first block's input).</summary>
    Tensor ForwardStem(Tensor images);

    /// <summary>The residual blocks in the order they run.</summary>
    IReadOnlyList<IResidualBlock> ResidualBlocks { get; }
}

/// <summary>One residual block <c>y = shortcut(x) + α·g·f(x)</c> whose branch <c>f</c> can be observed.</summary>
public interface IResidualBlock
{
    /// <summary>The block's state-dict prefix (e.g. <c>stages.1.0</c>).</summary>
    string BlockName { get; }

    /// <summary>The block's output and its residual branch before the residual gains are applied.</summary>
    (Tensor Output, Tensor Branch) ForwardWithBranch(Tensor input);
}
