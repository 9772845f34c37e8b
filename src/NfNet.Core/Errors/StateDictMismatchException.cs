namespace NfNet;

/// <summary>
/// Weights do not fit a model: names are missing or unexpected, or shapes differ. Thrown by strict loading
/// before any parameter is changed.
/// </summary>
public sealed class StateDictMismatchException : InvalidOperationException
{
    /// <summary>Model parameters that the weights do not provide.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Weight names the model does not have.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Names present on both sides with different shapes, as <c>name: model [..] vs file [..]</c>.</summary>
    public IReadOnlyList<string> ShapeMismatched { get; }

    /// <summary>Creates the exception from the three lists.</summary>
    public StateDictMismatchException(IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapeMismatched)
        : base(Format(missing, unexpected, shapeMismatched))
    {
        Missing = missing;
        Unexpected = unexpected;
        ShapeMismatched = shapeMismatched;
    }

    private static string Format(IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
    {
        static string List(string title, IReadOnlyList<string> xs) =>
            xs.Count == 0 ? "" : $" {title} ({xs.Count}): {string.Join(", ", xs.Take(10))}{(xs.Count > 10 ? ", ..." : "")}.";
        return "weights do not match the model." + List("missing", missing) + List("unexpected", unexpected) + List("shape mismatch", mismatched);
    }
}
