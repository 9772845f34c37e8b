using System.Text.RegularExpressions;
using NfNet.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>Which classifier parameters AGC leaves unclipped.</summary>
public enum ClassifierExclusion
{
    /// <summary>DeepMind (experiment_nfnets.py): only the final classifier's weight; its bias is clipped.</summary>
    DeepMindWeightOnly,
    /// <summary>timm (train.py, <c>--clip-mode agc</c>): the classifier's weight and bias.</summary>
    TimmWeightAndBias,
}

/// <summary>Chooses the named parameters AGC clips.</summary>
public static class AgcParameters
{
    /// <summary>
    /// The parameters of <paramref name="model"/> whose names match none of <paramref name="excludePatterns"/>
    /// (glob patterns over state-dict names: <c>*</c> matches any run of characters, e.g. <c>*.skipinit_gain</c>).
    /// </summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> Except(nn.Module model, params string[] excludePatterns)
    {
        var regexes = excludePatterns.Select(p => new Regex("^" + Regex.Escape(p).Replace("\\*", ".*") + "$")).ToArray();
        return model.named_parameters().Where(np => !regexes.Any(r => r.IsMatch(np.name))).ToArray();
    }

    /// <summary>
    /// The paper's selection for any model, read from the model contract (<see cref="ImageClassifier"/>): everything
    /// except the final classifier (per <paramref name="classifier"/>: its weight, or its weight and bias) and, unless
    /// <paramref name="clipResidualGains"/>, the zero-initialised residual gains (NFNet's and NF-ResNet's
    /// <c>skipinit_gain</c>). Leave <paramref name="clipResidualGains"/> false for short runs: clipped from 0 they move
    /// by at most λ·eps a step. For a module that does not implement the contract, its last <c>Linear</c> layer is the
    /// classifier (<see cref="ParameterRoles.Classifier"/>).
    /// </summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> ForModel(nn.Module model,
        ClassifierExclusion classifier = ClassifierExclusion.DeepMindWeightOnly, bool clipResidualGains = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        var excluded = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, p) in ParameterRoles.Classifier(model))
            if (classifier == ClassifierExclusion.TimmWeightAndBias || p.dim() >= 2) excluded.Add(name);
        if (!clipResidualGains)
            foreach (var (name, _) in ParameterRoles.ResidualGains(model)) excluded.Add(name);
        return model.named_parameters().Where(np => !excluded.Contains(np.name)).ToArray();
    }

    /// <summary>The paper's selection for an NFNet; the same as <see cref="ForModel"/>, which works for every model.</summary>
    [Obsolete("Use AgcParameters.ForModel, which reads the classifier and residual gains from the model contract of any model.")]
    public static IReadOnlyList<(string Name, Parameter Parameter)> ForNFNet(nn.Module model,
        ClassifierExclusion classifier = ClassifierExclusion.DeepMindWeightOnly, bool clipSkipInitGain = true) =>
        ForModel(model, classifier, clipSkipInitGain);
}
