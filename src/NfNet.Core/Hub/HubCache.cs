using System.Text.RegularExpressions;
using NfNet.IO;

namespace NfNet.Hub;

/// <summary>
/// The Hugging Face cache, laid out exactly as <c>huggingface_hub</c> writes it, so that both read each other's files:
/// <c>{cache}/models--{org}--{name}/blobs/{etag}</c> holds each file's bytes once,
/// <c>snapshots/{commit}/{file}</c> is a relative symbolic link to its blob (a copy where links cannot be made), and
/// <c>refs/{revision}</c> holds the commit a branch or tag pointed to when it was last resolved.
/// </summary>
/// <remarks>Every name that becomes part of a path, whether it came from the caller, a server or a file in the cache, is
/// checked first (a commit is 40 hex digits, a blob a SHA-256 or git SHA-1 in hex, a file a relative path without
/// <c>..</c>), and every path is checked to lie inside the cache, links followed: nothing read or written here is
/// outside <see cref="Directory"/>.</remarks>
public sealed partial class HubCache
{
    [GeneratedRegex("^(?:[0-9a-f]{40}|[0-9a-f]{64})$")]
    private static partial Regex BlobNamePattern();

    /// <summary>A cache at <paramref name="directory"/> (the folder that holds <c>models--…</c>).</summary>
    public HubCache(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The cache root.</summary>
    public string Directory { get; }

    /// <summary>The repository's folder.</summary>
    public string RepositoryFolder(HubRepository repository) => Path.Combine(Directory, repository.CacheFolderName);

    /// <summary>The commit a revision resolves to in the cache (the revision itself for a commit), or null.</summary>
    /// <exception cref="HubException">The ref file holds something other than a commit hash.</exception>
    public string? Commit(HubRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        if (repository.RevisionIsCommit) return repository.Revision;
        var reference = Inside(Path.Combine(RepositoryFolder(repository), "refs", repository.Revision));
        if (!File.Exists(reference)) return null;
        Inside(Path.GetFullPath(new FileInfo(reference).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? reference));
        if (new FileInfo(reference).Length > 256)
            throw new HubException($"the cache's ref file {reference} is {new FileInfo(reference).Length} bytes, not a commit hash");
        var commit = File.ReadAllText(reference).Trim();
        return HubRepository.IsCommit(commit) ? commit
            : throw new HubException($"the cache's ref file {reference} holds '{commit}', not a commit hash (40 hex digits): delete it to resolve {repository} again");
    }

    /// <summary>The cached file's path (in its snapshot), or null when it is not cached for that revision. Makes no
    /// network request.</summary>
    public string? TryFind(HubRepository repository, string file)
    {
        CheckFileName(file);
        if (Commit(repository) is not { Length: > 0 } commit) return null;
        var path = SnapshotPath(repository, commit, file);
        if (!File.Exists(path)) return null; // a dangling link (blob deleted) is not a hit
        Inside(new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path);
        return path;
    }

    /// <summary>Where a file of a commit lives.</summary>
    /// <exception cref="HubException"><paramref name="commit"/> is not a commit hash.</exception>
    public string SnapshotPath(HubRepository repository, string commit, string file)
    {
        CheckFileName(file);
        if (!HubRepository.IsCommit(commit)) throw new HubException($"'{commit}' is not a commit hash (40 hex digits) for {repository}");
        return Inside(Path.Combine(RepositoryFolder(repository), "snapshots", commit, file.Replace('/', Path.DirectorySeparatorChar)));
    }

    /// <summary>Where a blob lives.</summary>
    /// <exception cref="HubException"><paramref name="etag"/> is not a blob name (a SHA-256 or a git SHA-1 in hex).</exception>
    public string BlobPath(HubRepository repository, string etag) =>
        IsBlobName(etag) ? Inside(Path.Combine(RepositoryFolder(repository), "blobs", etag))
            : throw new HubException($"'{etag}' is not a blob name (a SHA-256 or git SHA-1 in hex) for {repository}");

    /// <summary>Whether <paramref name="etag"/> names a blob: 64 hex digits (SHA-256, LFS files) or 40 (git's SHA-1).</summary>
    public static bool IsBlobName(string? etag) => etag is not null && BlobNamePattern().IsMatch(etag);

    // The full path, or a HubException when it is not inside the cache.
    private string Inside(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Directory.EndsWith(Path.DirectorySeparatorChar) ? Directory : Directory + Path.DirectorySeparatorChar;
        return full.StartsWith(root, StringComparison.Ordinal) ? full
            : throw new HubException($"'{path}' lies outside the Hugging Face cache at {Directory}: refused");
    }

    /// <summary>
    /// Publishes a blob for a commit: the finished download at <paramref name="completed"/> (when given) becomes
    /// <c>blobs/{etag}</c>, the snapshot entry links to it, and <c>refs/{revision}</c> records the commit. Returns the
    /// snapshot path.
    /// </summary>
    public string Publish(HubRepository repository, string commit, string etag, string file, string? completed = null)
    {
        CheckFileName(file);
        var blob = BlobPath(repository, etag);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        if (completed is not null) File.Move(completed, blob, overwrite: true);
        var pointer = SnapshotPath(repository, commit, file);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        if (File.Exists(pointer) || new FileInfo(pointer).LinkTarget is not null) File.Delete(pointer);
        try
        {
            File.CreateSymbolicLink(pointer, Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blob));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, pointer, overwrite: true); // as huggingface_hub does where symbolic links are not allowed
        }
        if (!repository.RevisionIsCommit)
            AtomicFile.Write(Path.Combine(RepositoryFolder(repository), "refs", repository.Revision),
                stream => stream.Write(System.Text.Encoding.ASCII.GetBytes(commit)));
        return pointer;
    }

    /// <summary>Throws unless <paramref name="file"/> is a relative path inside a repository.</summary>
    /// <exception cref="ArgumentException">An empty, rooted or escaping path.</exception>
    public static void CheckFileName(string file)
    {
        ArgumentException.ThrowIfNullOrEmpty(file);
        if (Path.IsPathRooted(file) || file.Split('/', '\\').Any(part => part is "" or "." or ".."))
            throw new ArgumentException($"'{file}' is not a file name inside a repository", nameof(file));
    }
}
