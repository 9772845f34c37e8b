using NfNet.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// What a parameter is for, read from the module tree (the kind of layer that owns it), not from its name: the
/// weight-decay split and AGC's classifier exclusion of any model.
/// </summary>
public static class ParameterRoles
{
    /// <summary>The weights of every convolution and linear layer of <paramref name="model"/>
    /// (<see cref="ScaledWSConv2d"/>, <see cref="GuardedConv2d"/>, <c>Conv1d/2d/3d</c>, <c>Linear</c>), with their
    /// state-dict names; gains, biases and norm parameters are not included.</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> LinearMapWeights(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new List<(string, Parameter)>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not (ScaledWSConv2d or GuardedConv2d or Conv1d or Conv2d or Conv3d or Linear)) continue;
            foreach (var (leaf, p) in module.named_parameters(recurse: false))
                if (leaf == "weight") result.Add((name.Length == 0 ? leaf : $"{name}.{leaf}", p));
        }
        return result;
    }

    /// <summary>The classifier of <paramref name="model"/>: the contract's <see cref="ImageClassifier.ClassifierParameters"/>,
    /// or, for a module that does not implement the contract, the parameters of its last <c>Linear</c> layer.</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> Classifier(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model is ImageClassifier classifier) return classifier.ClassifierParameters();
        var last = model.named_modules().LastOrDefault(m => m.module is Linear);
        if (last.module is null) return Array.Empty<(string, Parameter)>();
        return last.module.named_parameters(recurse: false)
            .Select(p => (last.name.Length == 0 ? p.name : $"{last.name}.{p.name}", p.parameter)).ToArray();
    }

    /// <summary>The zero-initialised residual gains of <paramref name="model"/> (<see cref="ImageClassifier.ResidualGainParameters"/>);
    /// empty for a module that does not implement the contract.</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> ResidualGains(nn.Module model) =>
        model is ImageClassifier c ? c.ResidualGainParameters() : Array.Empty<(string, Parameter)>();

    /// <summary>The parameters weight decay applies to (<see cref="ImageClassifier.DecayedParameters"/>, or
    /// <see cref="LinearMapWeights"/> for any other module).</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> Decayed(nn.Module model) =>
        model is ImageClassifier c ? c.DecayedParameters() : LinearMapWeights(model);
}
