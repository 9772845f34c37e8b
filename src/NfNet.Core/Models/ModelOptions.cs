using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// Overrides for <see cref="ModelRegistry.Create(string, ModelOptions)"/>, as timm's <c>create_model(name, **kwargs)</c>
/// takes them. Null keeps the model's default. An option the named model has no use for (a drop rate for a model
/// without dropout) is refused with an <see cref="ArgumentException"/> naming it, never ignored.
/// </summary>
public sealed record ModelOptions
{
    /// <summary>Classifier outputs (0: no classifier; default 1000).</summary>
    public int? NumClasses { get; init; }

    /// <summary>Input image channels (default 3).</summary>
    public int? InChannels { get; init; }

    /// <summary>The image size the model's parameters are sized for, for models whose parameters depend on it
    /// (CoAtNet's relative-position tables). Models that run at any size refuse it.</summary>
    public int? ImageSize { get; init; }

    /// <summary>Dropout before the classifier (timm's <c>drop_rate</c>).</summary>
    public double? DropRate { get; init; }

    /// <summary>Stochastic depth rate of the last block (timm's <c>drop_path_rate</c>).</summary>
    public double? StochasticDepthRate { get; init; }

    /// <summary>Where to create the parameters; null for the CPU, <c>torch.META</c> for none.</summary>
    public Device? Device { get; init; }

    /// <summary>Load the model's published weights (timm's <c>pretrained=True</c>), from the shared Hugging Face cache or
    /// downloaded once (<see cref="Hub.HubWeights"/>). With another class count the classifier is reset for it; the input
    /// channels must be the published ones.</summary>
    public bool Pretrained { get; init; }

    /// <summary>Where published weights come from (cache, endpoint, token, offline); null: the environment's
    /// (<see cref="Hub.HubSettings.FromEnvironment"/>).</summary>
    public Hub.HubSettings? Hub { get; init; }

    /// <summary>Throws when <paramref name="value"/> is set: <paramref name="model"/> has no use for option
    /// <paramref name="option"/>. For factories of models without that option.</summary>
    /// <exception cref="ArgumentException">The option is set.</exception>
    public static void Refuse<T>(T? value, string option, string model) where T : struct
    {
        if (value is not null)
            throw new ArgumentException($"the model '{model}' has no {option} option (it was set to {value})", option);
    }
}
