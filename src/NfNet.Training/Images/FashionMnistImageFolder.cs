using NfNet.Training.Data;
using SkiaSharp;

namespace NfNet.Training.Images;

/// <summary>File format of the images <see cref="FashionMnistImageFolder"/> writes.</summary>
public enum ImageFileFormat
{
    /// <summary>Lossless PNG.</summary>
    Png,
    /// <summary>JPEG (quality 95).</summary>
    Jpeg,
    /// <summary>Alternating: even indices PNG, odd JPEG.</summary>
    Mixed,
}

/// <summary>
/// Writes Fashion-MNIST (Debian's <c>dataset-fashion-mnist</c> IDX files) as an image folder — <c>train/</c> and
/// <c>test/</c>, one subfolder per class named <c>&lt;index&gt;_&lt;name&gt;</c> so that the sorted folder order is the label
/// order — of 28×28 grey PNG and/or JPEG files: a real image folder on any machine, offline. The folder appears
/// atomically: it is written beside the target and renamed into place at the end.
/// </summary>
public static class FashionMnistImageFolder
{
    /// <summary>The class folder names, by label.</summary>
    public static IReadOnlyList<string> FolderNames { get; } =
        FashionMnist.Classes.Select((c, i) => $"{i}_{c.Replace('/', '-').Replace(' ', '-')}").ToArray();

    /// <summary>Writes the folder at <paramref name="output"/> from the IDX files in <paramref name="idxDirectory"/>.</summary>
    /// <param name="idxDirectory">Folder of the four IDX files.</param>
    /// <param name="output">The folder to create (must not exist).</param>
    /// <param name="format">PNG, JPEG or both alternating.</param>
    /// <param name="limit">At most this many images per split (all by default).</param>
    /// <returns>The number of images written per split.</returns>
    /// <exception cref="IOException"><paramref name="output"/> exists already.</exception>
    /// <exception cref="FileNotFoundException">The IDX files are missing.</exception>
    public static (int Train, int Test) Write(string idxDirectory, string output, ImageFileFormat format = ImageFileFormat.Mixed, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(idxDirectory);
        ArgumentNullException.ThrowIfNull(output);
        var target = Path.GetFullPath(output);
        if (Directory.Exists(target) || File.Exists(target)) throw new IOException($"'{target}' exists already: remove it or choose another folder");
        var partial = target + $".partial-{Environment.ProcessId}";
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        try
        {
            var train = WriteSplit(idxDirectory, "train", Path.Combine(partial, "train"), format, limit);
            var test = WriteSplit(idxDirectory, "t10k", Path.Combine(partial, "test"), format, limit);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            Directory.Move(partial, target);
            return (train, test);
        }
        catch
        {
            if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
            throw;
        }
    }

    private static int WriteSplit(string idxDirectory, string split, string folder, ImageFileFormat format, int? limit)
    {
        var images = FashionMnist.Find(idxDirectory, $"{split}-images-idx3-ubyte");
        var labels = FashionMnist.Find(idxDirectory, $"{split}-labels-idx1-ubyte");
        var (shape, pixels) = IdxFile.Read(images, 3);
        var (_, labelBytes) = IdxFile.Read(labels, 1);
        int n = Math.Min(limit ?? shape[0], shape[0]), h = shape[1], w = shape[2];
        foreach (var name in FolderNames) Directory.CreateDirectory(Path.Combine(folder, name));
        System.Threading.Tasks.Parallel.For(0, n, i =>
        {
            var jpeg = format == ImageFileFormat.Jpeg || format == ImageFileFormat.Mixed && i % 2 == 1;
            using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Gray8, SKAlphaType.Opaque));
            System.Runtime.InteropServices.Marshal.Copy(pixels, i * h * w, bitmap.GetPixels(), h * w);
            using var data = bitmap.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, jpeg ? 95 : 100)
                ?? throw new IOException($"SkiaSharp could not encode image {i} of {split}");
            var path = Path.Combine(folder, FolderNames[labelBytes[i]], $"{i:D5}{(jpeg ? ".jpg" : ".png")}");
            using var file = File.Create(path);
            data.SaveTo(file);
        });
        return n;
    }
}
