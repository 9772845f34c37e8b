using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// Stochastic depth (Huang et al. 2016): in training, each sample's residual branch is dropped with probability
/// <see cref="Rate"/>; the identity in evaluation. The per-sample mask <c>floor(keep + U[0, 1))</c> has shape [N, 1, 1, 1].
/// </summary>
public sealed class StochasticDepth : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the module with drop probability <paramref name="rate"/> in [0, 1).</summary>
    public StochasticDepth(double rate, StochasticDepthMode mode = StochasticDepthMode.DeepMind) : base(nameof(StochasticDepth))
    {
        if (!(rate >= 0 && rate < 1))
            throw new InvalidNFNetConfigException($"stochastic depth rate must be in [0, 1), got {rate}", nameof(rate));
        Rate = rate;
        Mode = mode;
        RegisterComponents();
    }

    /// <summary>Drop probability of this block.</summary>
    public double Rate { get; }

    /// <summary>Whether kept samples are rescaled by 1/keep (<see cref="StochasticDepthMode.Timm"/>) or not.</summary>
    public StochasticDepthMode Mode { get; }

    /// <summary>
    /// The drop rate of block <paramref name="blockIndex"/> (0-based, global) of <paramref name="blockCount"/>
    /// under <paramref name="mode"/>'s schedule for a network-wide <paramref name="rate"/>.
    /// </summary>
    public static double RateForBlock(double rate, int blockIndex, int blockCount, StochasticDepthMode mode) => mode switch
    {
        StochasticDepthMode.DeepMind => rate * blockIndex / blockCount,
        StochasticDepthMode.Timm => blockCount <= 1 ? 0.0 : rate * blockIndex / (blockCount - 1),
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var mask = Mask(input);
        return mask is null ? input.alias() : input * mask;
    }

    /// <summary>
    /// The per-sample factor <see cref="forward"/> multiplies by: [N, 1, …, 1] in the input's dtype, 0 for a dropped
    /// sample and 1 (DeepMind) or <c>1 / (1 − rate)</c> (timm) for a kept one; null when the module is the identity
    /// (evaluation mode or rate 0). One uniform draw per sample, as <see cref="forward"/> makes.
    /// </summary>
    public Tensor? Mask(Tensor input)
    {
        if (!training || Rate == 0.0) return null;
        var keep = 1.0 - Rate;
        var shape = new long[input.dim()];
        Array.Fill(shape, 1L);
        shape[0] = input.size(0);
        var mask = rand(shape, dtype: input.dtype, device: input.device);
        mask.PlusInPlace(keep).floor_();
        if (Mode == StochasticDepthMode.Timm) mask.DividedByInPlace(keep);
        return mask;
    }
}
