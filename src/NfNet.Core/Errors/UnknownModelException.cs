namespace NfNet;

/// <summary>A model name is not in <see cref="Models.ModelRegistry"/>. The message names the registered names near the
/// one asked for (one contains the other, or two edits apart): a look-alike name never builds another model.</summary>
public sealed class UnknownModelException : ArgumentException
{
    /// <summary>The name that was asked for.</summary>
    public string RequestedName { get; }

    /// <summary>The registered names.</summary>
    public IReadOnlyList<string> KnownNames { get; }

    /// <summary>The registered names near <see cref="RequestedName"/>, nearest first (empty when none is).</summary>
    public IReadOnlyList<string> NearNames { get; }

    /// <summary>Creates the exception for <paramref name="requestedName"/>, listing <paramref name="knownNames"/>.</summary>
    public UnknownModelException(string requestedName, IReadOnlyList<string> knownNames)
        : this(requestedName, knownNames, NameDistance.Near(requestedName, knownNames))
    {
    }

    private UnknownModelException(string requestedName, IReadOnlyList<string> knownNames, IReadOnlyList<string> nearNames)
        : base($"unknown model '{requestedName}'" +
               (nearNames.Count > 0 ? $"; did you mean {string.Join(" or ", nearNames)}?" : "") +
               $" Registered models: {string.Join(", ", knownNames)}" +
               (knownNames.Any(n => n.StartsWith("resnet", StringComparison.Ordinal)) ? "" : " (reference the NfNet.Baselines package for the comparison models)") +
               ". A dm_ prefix marks DeepMind's layout where timm's differs (dm_nfnet_f0, dm_nf_resnet50).",
               "name")
    {
        RequestedName = requestedName;
        KnownNames = knownNames;
        NearNames = nearNames;
    }
}
