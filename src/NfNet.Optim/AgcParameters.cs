using System.Text.RegularExpressions;
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
    /// The paper's selection for an NFNet (state-dict names of NfNet.NET and timm): everything except the classifier
    /// (per <paramref name="classifier"/>) and, unless <paramref name="clipSkipInitGain"/>, the <c>skipinit_gain</c>
    /// scalars. Leave <c>clipSkipInitGain</c> false for short runs: clipped from 0 they move by at most λ·eps a step.
    /// </summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> ForNFNet(nn.Module model,
        ClassifierExclusion classifier = ClassifierExclusion.DeepMindWeightOnly, bool clipSkipInitGain = true)
    {
        var patterns = new List<string> { "head.fc.weight" };
        if (classifier == ClassifierExclusion.TimmWeightAndBias) patterns.Add("head.fc.bias");
        if (!clipSkipInitGain) patterns.Add("*.skipinit_gain");
        return Except(model, patterns.ToArray());
    }
}
