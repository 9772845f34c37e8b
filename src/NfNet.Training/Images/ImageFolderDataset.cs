namespace NfNet.Training.Images;

/// <summary>
/// A folder with one subfolder per class, as torchvision's <c>ImageFolder</c>: classes are the subfolder names sorted
/// ordinally (index = position), files are found in each class folder and its nested folders, kept when their extension
/// is one of <see cref="ImageDecoder.Extensions"/> (case-insensitive), and sorted by path. Files directly in the root are
/// ignored. Indexing reads directory entries only (no image is opened), so a tree of millions of files is indexed in
/// a stream with progress.
/// </summary>
/// <remarks>Links to folders are followed, as torchvision's <c>ImageFolder</c> follows them, but each real folder is
/// read at most once per class and never the root or another class's folder: a link back up the tree
/// (<c>loop -&gt; ..</c>) adds nothing, two links to one folder add its files once, and no file is labelled with a class
/// it does not belong to. Following them once keeps the layouts people build with links (a class made of folders
/// linked from elsewhere) while making cycles harmless.</remarks>
public sealed class ImageFolderDataset : IImageDataset
{
    /// <summary>Indexes <paramref name="root"/>.</summary>
    /// <param name="root">The folder holding one subfolder per class.</param>
    /// <param name="progress">Receives the number of files indexed so far (every 1,000 files, and at the end).</param>
    /// <param name="extensions">Extensions to keep (with the dot); default <see cref="ImageDecoder.Extensions"/>.</param>
    /// <exception cref="ImageDatasetException">The folder does not exist, has no class subfolders, or a class folder holds no image.</exception>
    public ImageFolderDataset(string root, IProgress<long>? progress = null, IReadOnlyCollection<string>? extensions = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        Root = Path.GetFullPath(root);
        if (!Directory.Exists(Root)) throw new ImageDatasetException(Root, "the image folder does not exist");
        var keep = new HashSet<string>(extensions ?? ImageDecoder.Extensions, StringComparer.OrdinalIgnoreCase);
        var classes = Directory.EnumerateDirectories(Root).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.')).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        if (classes.Length == 0)
            throw new ImageDatasetException(Root, "has no class subfolders (expected one subfolder per class, each holding its images)");
        var samples = new List<ImageSample>();
        long found = 0;
        var classFolders = classes.Select(c => RealPath(Path.Combine(Root, c))).ToArray();
        for (var label = 0; label < classes.Length; label++)
        {
            var folder = Path.Combine(Root, classes[label]);
            // The root and the other classes' folders count as visited: a link into them is not followed.
            var visited = new HashSet<string>(classFolders.Where((_, i) => i != label).Append(RealPath(Root)), StringComparer.Ordinal);
            var files = new List<string>();
            foreach (var file in FilesBelow(folder, visited))
            {
                if (!keep.Contains(Path.GetExtension(file))) continue;
                files.Add(file);
                if (++found % 1000 == 0) progress?.Report(found);
            }
            if (files.Count == 0)
                throw new ImageDatasetException(folder, $"class '{classes[label]}' has no image files ({string.Join(", ", keep.Order())})");
            files.Sort(StringComparer.Ordinal);
            samples.AddRange(files.Select(f => new ImageSample(f, label)));
        }
        progress?.Report(found);
        Samples = samples;
        Classes = classes;
        ClassToIndex = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
    }

    /// <summary>The indexed folder (full path).</summary>
    public string Root { get; }
    /// <inheritdoc />
    public IReadOnlyList<ImageSample> Samples { get; }
    /// <inheritdoc />
    public IReadOnlyList<string> Classes { get; }
    /// <inheritdoc />
    public IReadOnlyDictionary<string, int> ClassToIndex { get; }

    // Every file below `folder`, links to folders followed once per real folder (see the remarks).
    private static IEnumerable<string> FilesBelow(string folder, HashSet<string> visited)
    {
        var pending = new Stack<string>();
        pending.Push(folder);
        while (pending.Count > 0)
        {
            var directory = pending.Pop();
            if (!visited.Add(RealPath(directory))) continue;
            foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", new EnumerationOptions { IgnoreInaccessible = false }))
            {
                if (entry is DirectoryInfo) pending.Push(entry.FullName);
                else yield return entry.FullName;
            }
        }
    }

    // The path with every link along it resolved (POSIX realpath), for telling real folders apart.
    private static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var result = Path.GetPathRoot(full)!;
        var remaining = new Queue<string>(full[result.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries));
        for (var hops = 0; remaining.Count > 0;)
        {
            var next = Path.Combine(result, remaining.Dequeue());
            if (new FileInfo(next).LinkTarget is not { } target)
            {
                result = next;
                continue;
            }
            if (++hops > 64) throw new ImageDatasetException(path, "more than 64 links to follow: a link cycle");
            var resolved = Path.GetFullPath(Path.IsPathRooted(target) ? target : Path.Combine(result, target));
            var rest = remaining.ToArray();
            remaining.Clear();
            result = Path.GetPathRoot(resolved)!;
            foreach (var part in resolved[result.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Concat(rest))
                remaining.Enqueue(part);
        }
        return result;
    }
}
