using System.Globalization;

namespace NfNet.Training.Images;

/// <summary>
/// A list file of <c>path,label</c> lines (CSV; TSV when the file ends in <c>.tsv</c> or its first line holds a tab),
/// paths relative to a root folder (by default the list file's folder). A label is a class index or a class name; an
/// optional header line <c>path,label</c> is skipped; the separator is the last one on a line, so paths may hold
/// commas. Every line is checked while indexing: a missing file or a label outside the class range is an
/// <see cref="ImageDatasetException"/> naming the list file and line.
/// </summary>
public sealed class ImageListDataset : IImageDataset
{
    /// <summary>Reads <paramref name="listFile"/>.</summary>
    /// <param name="listFile">The CSV or TSV file.</param>
    /// <param name="root">Folder the paths are relative to; default the list file's folder.</param>
    /// <param name="classes">Class names by index. Default: for numeric labels <c>"0"</c>…<c>"max"</c>; for names, the
    /// distinct names sorted ordinally. Given, numeric labels must be below its count and names must be in it.</param>
    /// <exception cref="ImageDatasetException">The list is missing or empty, a line is malformed, a file is missing or a label is out of range.</exception>
    public ImageListDataset(string listFile, string? root = null, IReadOnlyList<string>? classes = null)
    {
        ArgumentNullException.ThrowIfNull(listFile);
        ListFile = Path.GetFullPath(listFile);
        if (!File.Exists(ListFile)) throw new ImageDatasetException(ListFile, "the list file does not exist");
        Root = Path.GetFullPath(root ?? Path.GetDirectoryName(ListFile)!);
        var lines = File.ReadAllLines(ListFile);
        var separator = ListFile.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) || lines.FirstOrDefault()?.Contains('\t') == true ? '\t' : ',';
        var rows = new List<(string Path, string Label, int Line)>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var at = line.LastIndexOf(separator);
            var where = $"{ListFile}:{i + 1}";
            if (at <= 0 || at == line.Length - 1)
                throw new ImageDatasetException(where, $"expected 'path{(separator == '\t' ? "<TAB>" : ",")}label', got '{line}'");
            var (path, label) = (line[..at].Trim().Trim('"'), line[(at + 1)..].Trim().Trim('"'));
            if (rows.Count == 0 && path.Equals("path", StringComparison.OrdinalIgnoreCase) && label.Equals("label", StringComparison.OrdinalIgnoreCase)) continue;
            rows.Add((path, label, i + 1));
        }
        if (rows.Count == 0) throw new ImageDatasetException(ListFile, "the list file has no 'path,label' lines");

        var numeric = rows.All(r => int.TryParse(r.Label, NumberStyles.Integer, CultureInfo.InvariantCulture, out _));
        if (classes is null)
        {
            classes = numeric
                ? Enumerable.Range(0, rows.Max(r => int.Parse(r.Label, CultureInfo.InvariantCulture)) + 1).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray()
                : rows.Select(r => r.Label).Distinct().OrderBy(n => n, StringComparer.Ordinal).ToArray();
        }
        var classToIndex = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        var samples = new List<ImageSample>(rows.Count);
        foreach (var (path, label, line) in rows)
        {
            var where = $"{ListFile}:{line}";
            int index;
            if (numeric)
            {
                index = int.Parse(label, CultureInfo.InvariantCulture);
                if (index < 0 || index >= classes.Count)
                    throw new ImageDatasetException(where, $"label {index} is outside the class range 0..{classes.Count - 1}");
            }
            else if (!classToIndex.TryGetValue(label, out index))
                throw new ImageDatasetException(where, $"label '{label}' is not one of the {classes.Count} classes");
            var full = Path.GetFullPath(Path.Combine(Root, path));
            if (!File.Exists(full)) throw new ImageDatasetException(where, $"the image '{full}' does not exist");
            samples.Add(new ImageSample(full, index));
        }
        Samples = samples;
        Classes = classes.ToArray();
        ClassToIndex = classToIndex;
    }

    /// <summary>The list file (full path).</summary>
    public string ListFile { get; }
    /// <summary>The folder the paths are relative to.</summary>
    public string Root { get; }
    /// <inheritdoc />
    public IReadOnlyList<ImageSample> Samples { get; }
    /// <inheritdoc />
    public IReadOnlyList<string> Classes { get; }
    /// <inheritdoc />
    public IReadOnlyDictionary<string, int> ClassToIndex { get; }
}
