using NfNet.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// The training recipe of Brock et al. 2021 as ready parts: the batch-size learning-rate rule, the weight-decay split,
/// and SGD with Nesterov momentum wrapped in <see cref="AdaptiveGradientClipping"/> with the decay applied after clipping.
/// Pair it with <see cref="WarmupCosineSchedule"/> and <see cref="ExponentialMovingAverage"/>.
/// </summary>
public static class NFNetRecipe
{
    /// <summary>Learning rate at the reference batch (0.1 at 256).</summary>
    public const double BaseLearningRate = 0.1;
    /// <summary>The batch size the base learning rate refers to.</summary>
    public const int ReferenceBatchSize = 256;
    /// <summary>The paper's weight decay (2e-5, coupled).</summary>
    public const double WeightDecay = 2e-5;
    /// <summary>Nesterov momentum (0.9).</summary>
    public const double Momentum = 0.9;
    /// <summary>Warm-up length in epochs (5 of 360).</summary>
    public const int WarmupEpochs = 5;

    /// <summary>The linear scaling rule: <c>baseLearningRate · batchSize / 256</c> (1.6 at the paper's batch 4096).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The batch size is not positive.</exception>
    public static double LearningRateForBatch(int batchSize, double baseLearningRate = BaseLearningRate)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        return baseLearningRate * batchSize / ReferenceBatchSize;
    }

    /// <summary>
    /// Whether the paper decays a parameter: conv and linear weights (rank ≥ 2) yes; gains, biases, <c>skipinit_gain</c>
    /// and any rank ≤ 1 tensor (such as a norm layer's scale) no. DeepMind's rule is by name ("gain", "bias", "scale",
    /// "offset", "b"); this adds the rank test so that norm layers of other models are excluded too.
    /// </summary>
    public static bool IsDecayed(string name, Tensor parameter)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(parameter);
        var leaf = name[(name.LastIndexOf('.') + 1)..];
        if (leaf.Contains("gain", StringComparison.Ordinal) || leaf.Contains("bias", StringComparison.Ordinal)) return false;
        if (leaf is "scale" or "offset" or "b") return false;
        return parameter.dim() >= 2;
    }

    /// <summary>Splits <paramref name="model"/>'s parameters into those the recipe decays and the rest, from the model
    /// contract (<see cref="ImageClassifier.DecayedParameters"/>: the weights of convolutions and linear layers), not
    /// from parameter names.</summary>
    public static (IReadOnlyList<(string Name, Parameter Parameter)> Decayed, IReadOnlyList<(string Name, Parameter Parameter)> NotDecayed)
        SplitForWeightDecay(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var decayed = ParameterRoles.Decayed(model);
        var names = decayed.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        return (decayed, model.named_parameters().Where(p => !names.Contains(p.name)).Select(p => (p.name, p.parameter)).ToArray());
    }

    /// <summary>
    /// DeepMind's SGD_AGC for an NFNet (or any model): SGD with Nesterov momentum and no weight decay of its own, wrapped
    /// in AGC that clips every parameter but the classifier (per <paramref name="classifier"/>, read from the model
    /// contract) and then adds <paramref name="weightDecay"/> to the conv/linear weights only.
    /// </summary>
    /// <param name="model">The model, already on its device and dtype.</param>
    /// <param name="learningRate">Peak learning rate (see <see cref="LearningRateForBatch"/>).</param>
    /// <param name="weightDecay">Coupled weight decay (2e-5 in the paper).</param>
    /// <param name="clipFactor">AGC λ (0.01 at batch 4096 in the paper).</param>
    /// <param name="momentum">Nesterov momentum.</param>
    /// <param name="classifier">Which classifier parameters stay unclipped.</param>
    /// <param name="clipSkipInitGain">Clip the zero-initialised <c>skipinit_gain</c> scalars (the paper does; for runs of
    /// a few thousand steps pass false, or the residual branches stay shut).</param>
    /// <param name="skipNonFiniteSteps">Skip steps with NaN/∞ gradients instead of raising.</param>
    /// <param name="layerDecay">Layer-wise learning-rate decay (<see cref="LayerDecay"/>): one parameter group per depth of
    /// an <see cref="ImageClassifier"/>, each at its scale of <paramref name="learningRate"/>; null for one group.</param>
    public static AdaptiveGradientClipping CreateSgdAgc(nn.Module model, double learningRate, double weightDecay = WeightDecay,
        double clipFactor = AdaptiveGradientClipping.DefaultClipFactor, double momentum = Momentum,
        ClassifierExclusion classifier = ClassifierExclusion.DeepMindWeightOnly, bool clipSkipInitGain = true,
        bool skipNonFiniteSteps = false, double? layerDecay = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learning rate must be positive");
        var parameters = model.parameters().ToArray();
        if (parameters.Length == 0) throw new ArgumentException("the model has no parameters", nameof(model));
        var sgd = layerDecay is { } decay
            ? optim.SGD(LayerDecay.SgdGroups(model, learningRate, decay), learningRate, momentum: momentum, nesterov: true)
            : optim.SGD(parameters, learningRate, momentum: momentum, nesterov: true);
        var decayed = SplitForWeightDecay(model).Decayed.Select(p => p.Parameter);
        return new AdaptiveGradientClipping(sgd, AgcParameters.ForModel(model, classifier, clipSkipInitGain), clipFactor,
            skipNonFiniteSteps: skipNonFiniteSteps, weightDecay: new CoupledWeightDecay(weightDecay, decayed));
    }

    /// <summary>
    /// Optimizer steps in <paramref name="epochs"/> epochs of <paramref name="examplesPerEpoch"/> examples at
    /// <paramref name="batchSize"/>, rounded down as DeepMind counts them (ImageNet, 360 epochs, batch 4096: 112,602;
    /// the 5 warm-up epochs: 1,563).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is not positive.</exception>
    public static int Steps(long examplesPerEpoch, int batchSize, double epochs)
    {
        if (examplesPerEpoch <= 0) throw new ArgumentOutOfRangeException(nameof(examplesPerEpoch));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize));
        if (!(epochs >= 0)) throw new ArgumentOutOfRangeException(nameof(epochs));
        return checked((int)Math.Floor(examplesPerEpoch * epochs / batchSize));
    }
}
