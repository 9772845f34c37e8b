namespace NfNet;

/// <summary>A model name is not in <see cref="Models.ModelRegistry"/>.</summary>
public sealed class UnknownModelException : ArgumentException
{
    /// <summary>The name that was asked for.</summary>
    public string RequestedName { get; }

    /// <summary>The registered names.</summary>
    public IReadOnlyList<string> KnownNames { get; }

    /// <summary>Creates the exception for <paramref name="requestedName"/>, listing <paramref name="knownNames"/>.</summary>
    public UnknownModelException(string requestedName, IReadOnlyList<string> knownNames)
        : base($"unknown model '{requestedName}'; registered models: {string.Join(", ", knownNames)}" +
               (knownNames.Any(n => n.StartsWith("resnet", StringComparison.Ordinal)) ? "" : " (reference the NfNet.Baselines package for the comparison models)"),
               "name")
    {
        RequestedName = requestedName;
        KnownNames = knownNames;
    }
}
