using NfNet.Models;
using TorchSharp.Modules;

namespace NfNet.Optim;

/// <summary>
/// Layer-wise learning-rate decay (BEiT; timm's <c>--layer-decay</c>, <c>param_groups_layer_decay</c>): the parameters at
/// depth d of D (<see cref="ImageClassifier.ParameterDepths"/>: the stem 0 … the head D − 1) learn at
/// <c>decay^(D − 1 − d)</c> of the learning rate, so that fine-tuning moves the early layers least.
/// </summary>
public static class LayerDecay
{
    /// <summary>The parameters grouped by depth, input first, each with its learning-rate scale.</summary>
    /// <param name="model">The model.</param>
    /// <param name="decay">The factor per depth, in (0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="decay"/> is outside (0, 1].</exception>
    public static IReadOnlyList<(IReadOnlyList<Parameter> Parameters, double Scale)> Groups(ImageClassifier model, double decay)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(decay > 0 && decay <= 1)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "the layer decay must be in (0, 1]");
        var depths = model.ParameterDepths();
        var last = depths.Max(p => p.Depth);
        return depths.GroupBy(p => p.Depth).OrderBy(g => g.Key)
            .Select(g => ((IReadOnlyList<Parameter>)g.Select(p => p.Parameter).ToArray(), Math.Pow(decay, last - g.Key)))
            .ToArray();
    }

    /// <summary>SGD parameter groups by depth, each at its scale of <paramref name="learningRate"/> (the other options
    /// are the optimizer's): <c>optim.SGD(LayerDecay.SgdGroups(model, lr, 0.75), lr, momentum: 0.9)</c>.</summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> is not an <see cref="ImageClassifier"/> (it has no depths).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="decay"/> is outside (0, 1].</exception>
    public static IReadOnlyList<SGD.ParamGroup> SgdGroups(TorchSharp.torch.nn.Module model, double learningRate, double decay)
    {
        if (model is not ImageClassifier classifier)
            throw new ArgumentException($"layer decay needs the depths of an ImageClassifier; {model?.GetType().Name ?? "null"} is not one", nameof(model));
        return Groups(classifier, decay)
            .Select(g => new SGD.ParamGroup(g.Parameters, new SGD.Options { LearningRate = learningRate * g.Scale }))
            .ToArray();
    }
}
