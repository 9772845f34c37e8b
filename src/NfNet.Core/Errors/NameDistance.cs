namespace NfNet;

/// <summary>Which known names are near a name a user typed, for the unknown-name errors.</summary>
internal static class NameDistance
{
    /// <summary>The names of <paramref name="known"/> near <paramref name="requested"/> (case-insensitive): one contains
    /// the other, or they are at most two edits apart; nearest first, at most four.</summary>
    public static IReadOnlyList<string> Near(string requested, IEnumerable<string> known)
    {
        var wanted = (requested ?? "").Trim().ToLowerInvariant();
        if (wanted.Length == 0) return Array.Empty<string>();
        return known
            .Select(name => (name, distance: Distance(wanted, name.ToLowerInvariant())))
            .Where(c => c.distance <= 2 || c.name.Contains(wanted, StringComparison.OrdinalIgnoreCase) ||
                        (wanted.Length >= 4 && wanted.Contains(c.name, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(c => c.distance).ThenBy(c => c.name, StringComparer.Ordinal)
            .Take(4).Select(c => c.name).ToArray();
    }

    // Levenshtein distance: insertions, deletions and substitutions.
    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
