namespace NfNet;

/// <summary>A variant name (e.g. <c>"F9"</c>, or timm's <c>nfnet_f0</c>, which is not DeepMind's F0) is not in
/// <see cref="Models.NFNetVariants"/>.</summary>
public sealed class UnknownVariantException : ArgumentException
{
    /// <summary>The name that was asked for.</summary>
    public string RequestedName { get; }

    /// <summary>The names that exist.</summary>
    public IReadOnlyList<string> KnownNames { get; }

    /// <summary>Creates the exception for <paramref name="requestedName"/>, listing <paramref name="knownNames"/>, with
    /// an optional sentence on what was meant (<paramref name="hint"/>).</summary>
    public UnknownVariantException(string requestedName, IReadOnlyList<string> knownNames, string? hint = null)
        : base($"unknown NFNet variant '{requestedName}'{(hint is null ? "" : $": {hint}")}; known variants: {string.Join(", ", knownNames)}", "name")
    {
        RequestedName = requestedName;
        KnownNames = knownNames;
    }
}
