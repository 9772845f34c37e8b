namespace NfNet.Training.Checkpoints;

/// <summary>
/// Older checkpoints kept beside the newest (<c>&lt;name&gt;.step-&lt;N&gt;&lt;ext&gt;</c>, <c>keep</c> &gt; 1): keeping the
/// previous one before it is replaced, pruning to the newest <c>keep</c>, and finding the newest one that verifies.
/// </summary>
internal static class CheckpointRetention
{
    /// <summary>
    /// The newest checkpoint among <paramref name="path"/> and the older ones kept beside it (<c>keep</c> &gt; 1) that
    /// verifies completely; damaged ones are skipped and listed in <paramref name="skipped"/> with the reason.
    /// </summary>
    /// <returns>The path of the newest valid checkpoint, or null when there is none.</returns>
    public static string? FindNewestValid(string path, out IReadOnlyList<(string Path, string Reason)> skipped)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var candidates = new List<(string Path, long Step)>();
        var bad = new List<(string, string)>();
        foreach (var candidate in Siblings(full).Prepend(full).Where(File.Exists))
        {
            try { candidates.Add((candidate, TrainingCheckpoint.Verify(candidate).Step)); }
            catch (CheckpointFormatException e) { bad.Add((candidate, e.Message)); }
        }
        skipped = bad;
        return candidates.OrderByDescending(c => c.Step).Select(c => c.Path).FirstOrDefault();
    }

    private static string KeptName(string full, long step) =>
        Path.Combine(Path.GetDirectoryName(full)!, $"{Path.GetFileNameWithoutExtension(full)}.step-{step:D10}{Path.GetExtension(full)}");

    private static IEnumerable<string> Siblings(string full)
    {
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) return Array.Empty<string>();
        return Directory.GetFiles(directory, $"{Path.GetFileNameWithoutExtension(full)}.step-*{Path.GetExtension(full)}").Order(StringComparer.Ordinal);
    }

    public static void KeepPrevious(string full)
    {
        long step;
        try { step = TrainingCheckpoint.Verify(full).Step; }
        catch (CheckpointFormatException) { return; } // a damaged previous file is replaced, not kept
        File.Move(full, KeptName(full, step), overwrite: true);
    }

    public static void Prune(string full, int keep)
    {
        foreach (var old in Siblings(full).Reverse().Skip(keep - 1)) File.Delete(old);
    }
}
