using System.Text.RegularExpressions;

namespace NfNet.Hub;

/// <summary>
/// A model repository on the Hub and a revision: <c>timm/dm_nfnet_f0.dm_in1k</c>, optionally with timm's
/// <c>hf-hub:</c> prefix and an <c>@revision</c> (a branch, tag or commit; default <c>main</c>).
/// </summary>
/// <remarks>Both parts become folder and file names in the cache, so both are checked whichever way the record is
/// made: an id is <c>org/name</c> of letters, digits, <c>_ . -</c>; a revision is a branch or tag name of the same
/// characters or a commit hash, never a path (no separators, no root, no <c>..</c>).</remarks>
public sealed partial record HubRepository
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex RevisionPattern();

    /// <summary>A repository at a revision.</summary>
    /// <param name="id">The repository id, <c>org/name</c>.</param>
    /// <param name="revision">A branch, tag or 40-hex commit.</param>
    /// <exception cref="ArgumentException">The id or the revision is not one (a path, a root, <c>..</c>).</exception>
    public HubRepository(string id, string revision = "main")
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(revision);
        if (!IdPattern().IsMatch(id) || id.Contains("..", StringComparison.Ordinal))
            throw new ArgumentException($"'{id}' is not a Hugging Face model id (org/name of letters, digits, '_', '.', '-')", nameof(id));
        if (!RevisionPattern().IsMatch(revision) || revision.Contains("..", StringComparison.Ordinal))
            throw new ArgumentException($"'{revision}' is not a revision: a branch or tag name (letters, digits, '_', '.', '-') or a commit hash, never a path", nameof(revision));
        Id = id;
        Revision = revision;
    }

    /// <summary>The repository id, <c>org/name</c>.</summary>
    public string Id { get; }

    /// <summary>A branch, tag or 40-hex commit.</summary>
    public string Revision { get; }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    /// <summary>Whether <paramref name="text"/> is a commit hash: 40 lower-case hex digits.</summary>
    public static bool IsCommit(string? text) => text is not null && CommitPattern().IsMatch(text);

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
        try
        {
            return new HubRepository(s, revision);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"'{text}' is not a Hugging Face model id (org/name, optionally hf-hub:org/name@revision): {e.Message}", nameof(text), e);
        }
    }

    /// <summary>Whether <see cref="Revision"/> is a commit hash (then no ref needs resolving).</summary>
    public bool RevisionIsCommit => IsCommit(Revision);

    /// <summary>The cache folder name, as <c>huggingface_hub</c> spells it: <c>models--org--name</c>.</summary>
    public string CacheFolderName => "models--" + Id.Replace("/", "--", StringComparison.Ordinal);

    /// <inheritdoc />
    public override string ToString() => Revision == "main" ? Id : $"{Id}@{Revision}";
}
