using NfNet.Training.Data;

namespace NfNet.Training.Tests;

/// <summary>The committed image folder (Fixtures/images, see its README) and the IDX pixels its files came from.</summary>
internal static class ImageFixture
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "Fixtures", "images");
    public static string Train => Path.Combine(Root, "train");
    public static string Val => Path.Combine(Root, "val");
    public static string Damaged => Path.Combine(Root, "damaged");

    private static readonly Lazy<byte[]> TestPixels = new(() => IdxFile.Read(Path.Combine(Slice.Directory, "t10k-images-idx3-ubyte.gz"), 3).Data);

    /// <summary>The 28×28 grey pixels of Fashion-MNIST test image <paramref name="index"/> (the file name's number).</summary>
    public static byte[] Pixels(int index) => TestPixels.Value.AsSpan(index * 784, 784).ToArray();

    /// <summary>The test-split index a fixture file was made from.</summary>
    public static int IndexOf(string path) => int.Parse(Path.GetFileName(path).Split('.')[0]);

    /// <summary>A fresh copy of the fixture's train folder in a temporary directory (deleted by the caller).</summary>
    public static string CopyTrain()
    {
        var target = Path.Combine(Path.GetTempPath(), "nfnet-images-" + Guid.NewGuid().ToString("N"));
        CopyTree(Train, target);
        return target;
    }

    /// <summary>Copies every file under <paramref name="from"/> to the same relative path under <paramref name="to"/>.</summary>
    public static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
