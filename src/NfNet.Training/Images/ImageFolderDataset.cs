namespace NfNet.Training.Images;

/// <summary>
/// A folder with one subfolder per class, as torchvision's <c>ImageFolder</c>: classes are the subfolder names sorted
/// ordinally (index = position), files are found in each class folder and its nested folders, kept when their extension
/// is one of <see cref="ImageDecoder.Extensions"/> (case-insensitive), and sorted by path. Files directly in the root are
/// ignored. Indexing reads directory entries only (no image is opened), so a tree of millions of files is indexed in
/// a stream with progress.
/// </summary>
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
        for (var label = 0; label < classes.Length; label++)
        {
            var folder = Path.Combine(Root, classes[label]);
            var files = new List<string>();
            foreach (var file in Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false }))
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
}
