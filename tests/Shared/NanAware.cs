namespace NfNet.Testing;

/// <summary>
/// Maxima that a NaN cannot slip through. LINQ's <c>Max</c> skips NaN (it returns NaN only when every value is NaN), so
/// <c>diffs.Max() &lt;= tol</c> passes for a partly-NaN output. These return NaN as soon as one value is NaN, and a
/// tolerance check written <c>d &lt;= tol</c> then fails, as it must. Linked into every test project that compares outputs.
/// </summary>
internal static class NanAware
{
    /// <summary>The largest value, or NaN when any value is NaN (−∞ for an empty sequence).</summary>
    public static double Max(IEnumerable<double> values)
    {
        var max = double.NegativeInfinity;
        foreach (var v in values)
        {
            if (double.IsNaN(v)) return double.NaN;
            if (v > max) max = v;
        }
        return max;
    }

    /// <summary>The largest value, or NaN when any value is NaN.</summary>
    public static double Max(IEnumerable<float> values) => Max(values.Select(v => (double)v));

    /// <summary>max |a_i − b_i| over two equally long sequences; NaN when either holds a NaN, ∞ for a lone ∞.</summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static double MaxAbsDifference(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"lengths differ: {a.Count} vs {b.Count}");
        return Max(a.Zip(b, (x, y) => Math.Abs(x - y)));
    }

    /// <summary>max |a_i − b_i| of float sequences (computed in double).</summary>
    public static double MaxAbsDifference(IReadOnlyList<float> a, IReadOnlyList<float> b) =>
        MaxAbsDifference(a.Select(v => (double)v).ToArray(), b.Select(v => (double)v).ToArray());
}
