namespace NfNet;

/// <summary>A variant name (e.g. <c>"F9"</c>) is not in <see cref="Models.NFNetVariants"/>.</summary>
public sealed class UnknownVariantException : ArgumentException
{
    /// <summary>The name that was asked for.</summary>
    public string RequestedName { get; }

    /// <summary>The names that exist.</summary>
    public IReadOnlyList<string> KnownNames { get; }

    /// <summary>Creates the exception for <paramref name="requestedName"/>, listing <paramref name="knownNames"/>.</summary>
    public UnknownVariantException(string requestedName, IReadOnlyList<string> knownNames)
        : base($"unknown NFNet variant '{requestedName}'; known variants: {string.Join(", ", knownNames)}", "name")
    {
        RequestedName = requestedName;
        KnownNames = knownNames;
    }
}
