namespace NfNet.Weights;

/// <summary>What happened when weights were loaded into a model.</summary>
/// <param name="Loaded">Names copied into the model.</param>
/// <param name="Missing">Model tensors the weights do not provide (left as they were).</param>
/// <param name="Unexpected">Weight names the model does not have (ignored).</param>
/// <param name="ShapeMismatched">Names on both sides with different shapes (left as they were), as <c>name: model [..] vs weights [..]</c>.</param>
public sealed record LoadReport(
    IReadOnlyList<string> Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<string> ShapeMismatched)
{
    /// <summary>True when every model tensor was loaded and nothing was left over.</summary>
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatched.Count == 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"loaded {Loaded.Count}, missing {Missing.Count}, unexpected {Unexpected.Count}, shape mismatched {ShapeMismatched.Count}";
}
