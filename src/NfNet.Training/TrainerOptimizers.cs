using NfNet.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training;

/// <summary>Optimizer factories for <see cref="TrainerOptions.OptimizerFactory"/>.</summary>
public static class TrainerOptimizers
{
    /// <summary>
    /// The default: the paper's SGD with Nesterov momentum in AGC (λ = <see cref="TrainerOptions.ClipFactor"/>, the
    /// classifier and, unless <see cref="TrainerOptions.ClipSkipInitGain"/>, the residual gains unclipped, weight decay
    /// on conv/linear weights after clipping; <see cref="NFNetRecipe.CreateSgdAgc"/>); with <c>ClipFactor = null</c>,
    /// plain SGD-Nesterov with its own weight decay (for comparisons). <see cref="TrainerOptions.LayerDecay"/> gives
    /// either one parameter group per depth.
    /// </summary>
    public static optim.Optimizer Recipe(nn.Module model, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (options.ClipFactor is { } lambda)
            return NFNetRecipe.CreateSgdAgc(model, options.PeakLearningRate, options.WeightDecay, lambda,
                clipSkipInitGain: options.ClipSkipInitGain, layerDecay: options.LayerDecay);
        return options.LayerDecay is { } decay
            ? optim.SGD(LayerDecay.SgdGroups(model, options.PeakLearningRate, decay), options.PeakLearningRate, momentum: NFNetRecipe.Momentum, nesterov: true, weight_decay: options.WeightDecay)
            : optim.SGD(model.parameters(), options.PeakLearningRate, momentum: NFNetRecipe.Momentum, nesterov: true, weight_decay: options.WeightDecay);
    }
}
