using System.Text.RegularExpressions;

namespace NfNet.Hub;

/// <summary>
/// A model repository on the Hub and a revision: <c>timm/dm_nfnet_f0.dm_in1k</c>, optionally with timm's
/// <c>hf-hub:</c> prefix and an <c>@revision</c> (a branch, tag or commit; default <c>main</c>).
/// </summary>
/// <param name="Id">The repository id, <c>org/name</c>.</param>
/// <param name="Revision">A branch, tag or 40-hex commit.</param>
public sealed partial record HubRepository(string Id, string Revision = "main")
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    /// <summary>Reads <c>[hf-hub:]org/name[@revision]</c>.</summary>
    /// <exception cref="ArgumentException">Not a repository id.</exception>
    public static HubRepository Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        if (s.StartsWith("hf-hub:", StringComparison.OrdinalIgnoreCase)) s = s["hf-hub:".Length..];
        var revision = "main";
        if (s.IndexOf('@') is var at and > 0)
        {
            revision = s[(at + 1)..];
            s = s[..at];
        }
        if (!IdPattern().IsMatch(s) || s.Contains("..", StringComparison.Ordinal) || revision.Length == 0 || revision.Contains("..", StringComparison.Ordinal))
            throw new ArgumentException($"'{text}' is not a Hugging Face model id (org/name, optionally hf-hub:org/name@revision)", nameof(text));
        return new HubRepository(s, revision);
    }

    /// <summary>Whether <see cref="Revision"/> is a commit hash (then no ref needs resolving).</summary>
    public bool RevisionIsCommit => CommitPattern().IsMatch(Revision);

    /// <summary>The cache folder name, as <c>huggingface_hub</c> spells it: <c>models--org--name</c>.</summary>
    public string CacheFolderName => "models--" + Id.Replace("/", "--", StringComparison.Ordinal);

    /// <inheritdoc />
    public override string ToString() => Revision == "main" ? Id : $"{Id}@{Revision}";
}
