using NfNet.IO;

namespace NfNet.Hub;

/// <summary>
/// The Hugging Face cache, laid out exactly as <c>huggingface_hub</c> writes it, so that both read each other's files:
/// <c>{cache}/models--{org}--{name}/blobs/{etag}</c> holds each file's bytes once,
/// <c>snapshots/{commit}/{file}</c> is a relative symbolic link to its blob (a copy where links cannot be made), and
/// <c>refs/{revision}</c> holds the commit a branch or tag pointed to when it was last resolved.
/// </summary>
public sealed class HubCache
{
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
    public string? Commit(HubRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        if (repository.RevisionIsCommit) return repository.Revision;
        var reference = Path.Combine(RepositoryFolder(repository), "refs", repository.Revision);
        return File.Exists(reference) ? File.ReadAllText(reference).Trim() : null;
    }

    /// <summary>The cached file's path (in its snapshot), or null when it is not cached for that revision. Makes no
    /// network request.</summary>
    public string? TryFind(HubRepository repository, string file)
    {
        CheckFileName(file);
        if (Commit(repository) is not { Length: > 0 } commit) return null;
        var path = SnapshotPath(repository, commit, file);
        return File.Exists(path) ? path : null; // a dangling link (blob deleted) is not a hit
    }

    /// <summary>Where a file of a commit lives.</summary>
    public string SnapshotPath(HubRepository repository, string commit, string file) =>
        Path.Combine(RepositoryFolder(repository), "snapshots", commit, file.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Where a blob lives.</summary>
    public string BlobPath(HubRepository repository, string etag) => Path.Combine(RepositoryFolder(repository), "blobs", etag);

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
