using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Reporting;

/// <summary>Signal-propagation statistics of one residual block's output (Brock et al. 2021a, "SPP").</summary>
/// <param name="Block">The block's name (e.g. <c>stages.1.0</c>).</param>
/// <param name="Depth">1-based position of the block.</param>
/// <param name="AverageChannelSquaredMean">Mean over channels of (channel mean over N, H, W)².</param>
/// <param name="AverageChannelVariance">Mean over channels of the channel variance over N, H, W.</param>
/// <param name="ResidualBranchVariance">Average channel variance of the residual branch (before α·skipinit_gain).</param>
public sealed record BlockSignal(string Block, int Depth, double AverageChannelSquaredMean, double AverageChannelVariance,
    double ResidualBranchVariance);

/// <summary>
/// Measures signal propagation through a residual network (an NFNet, an NF-ResNet, or any <see cref="ImageClassifier"/>
/// that is an <see cref="IResidualTrunk"/>) on a batch, as in the NF-ResNet paper's SPPs: for each residual block,
/// the average channel squared mean and average channel variance of its output, and the residual branch's average
/// channel variance. In a well-scaled NF network the output variance grows by about α² per block and resets at each
/// transition, and the squared mean stays small. Runs in eval mode without gradients, in float32.
/// </summary>
public static class SignalPropagation
{
    /// <summary>The statistics of every block of <paramref name="model"/> on <paramref name="images"/>.</summary>
    /// <exception cref="InvalidInputException">The images do not fit the model.</exception>
    /// <remarks>The paper plots the network at initialisation (Figure 1); measure a freshly built model for that, and the
    /// trained one beside it (<see cref="TrainingPlots.SaveSignalPropagation(IReadOnlyList{BlockSignal}, string, IReadOnlyList{BlockSignal}?, int, int)"/>).</remarks>
    public static IReadOnlyList<BlockSignal> Measure<TModel>(TModel model, Tensor images) where TModel : ImageClassifier, IResidualTrunk
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.size(1) != model.InChannels)
            throw new InvalidInputException($"signal propagation needs images [N, {model.InChannels}, H, W], got " +
                $"[{string.Join(", ", Shapes.Of(images))}]", nameof(images));
        var wasTraining = model.training;
        model.eval();
        var result = new List<BlockSignal>();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var weightType = model.parameters().First().dtype;
            var x = model.ForwardStem(images.to(weightType));
            var depth = 0;
            foreach (var block in model.ResidualBlocks)
            {
                var (output, branch) = block.ForwardWithBranch(x);
                var (sqMean, variance) = Stats(output);
                var (_, branchVariance) = Stats(branch);
                result.Add(new BlockSignal(block.BlockName, ++depth, sqMean, variance, branchVariance));
                x = output;
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return result;
    }

    private static (double SquaredMean, double Variance) Stats(Tensor x)
    {
        using var scope = NewDisposeScope();
        var f = x.to(ScalarType.Float64);
        var dims = new long[] { 0, 2, 3 };
        var mean = f.mean(dims);
        var variance = f.var(dims, unbiased: false);
        return (mean.Squared().mean().ReadDouble(), variance.mean().ReadDouble());
    }
}
