using System.IO.Compression;
using NfNet.Platform;
using NfNet.Training.Data;
using TorchSharp;
using Xunit;

namespace NfNet.Training.Tests;

public sealed class IdxFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void RealHeadersParse()
    {
        var (shape, data) = IdxFile.Read(Path.Combine(Slice.Directory, "train-images-idx3-ubyte.gz"), 3);
        Assert.Equal(new[] { 2000, 28, 28 }, shape);
        Assert.Equal(2000 * 784, data.Length);
        var (labelShape, labels) = IdxFile.Read(Path.Combine(Slice.Directory, "train-labels-idx1-ubyte.gz"), 1);
        Assert.Equal(new[] { 2000 }, labelShape);
        // Fashion-MNIST's first training label is 9 (ankle boot), the second 0 (T-shirt/top).
        Assert.Equal(9, labels[0]);
        Assert.Equal(0, labels[1]);
        Assert.All(labels, l => Assert.InRange(l, 0, 9));
    }

    [Fact]
    public void LoadsNormalizedAndPadded()
    {
        using var train = Slice.Train();
        Assert.Equal(2000, train.Count);
        Assert.Equal(new long[] { 2000, 1, 32, 32 }, train.Images.shape);
        // Padding is black: (0 − mean)/std.
        Assert.Equal(-FashionMnist.Mean / FashionMnist.Std, train.Images[0, 0, 0, 0].ReadDouble(), 5);
        var mean = train.Images[.., .., 2..30, 2..30].mean().ReadDouble();
        Assert.InRange(mean, -0.2, 0.2); // normalized with the full training set's statistics
    }

    private string Write(byte[] bytes, bool gzip)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.idx");
        if (!gzip) { File.WriteAllBytes(path, bytes); return path; }
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(bytes);
        return path;
    }

    private static byte[] Valid() => new byte[] { 0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3 };

    public static TheoryData<string, byte[], string> Corrupt => new()
    {
        { "magic", new byte[] { 1, 2, 8, 1, 0, 0, 0, 3, 1, 2, 3 }, "bad magic" },
        { "type", new byte[] { 0, 0, 0x0d, 1, 0, 0, 0, 3, 1, 2, 3 }, "not unsigned byte" },
        { "rank", new byte[] { 0, 0, 8, 3, 0, 0, 0, 3, 1, 2, 3 }, "3 dimensions" },
        { "truncated data", new byte[] { 0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3 }, "truncated" },
        { "truncated header", new byte[] { 0, 0 }, "truncated" },
        { "trailing", new byte[] { 0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3 }, "trailing" },
        { "negative", new byte[] { 0, 0, 8, 1, 0xff, 0, 0, 0 }, "negative" },
    };

    [Theory]
    [MemberData(nameof(Corrupt))]
    public void CorruptFilesRaiseTheTypedError(string name, byte[] bytes, string message)
    {
        foreach (var gzip in new[] { false, true })
        {
            var path = Write(bytes, gzip);
            var e = Assert.Throws<IdxFormatException>(() => IdxFile.Read(path, 1));
            Assert.Contains(message, e.Message);
            Assert.Equal(path, e.FilePath);
            File.Delete(path);
        }
        Assert.NotNull(name);
        Assert.Equal(new[] { 3 }, IdxFile.Read(Write(Valid(), true), 1).Shape);
    }

    [Fact]
    public void CorruptGzipAndMissingFilesAreClear()
    {
        var path = Write(new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef }, false);
        Assert.Throws<IdxFormatException>(() => IdxFile.Read(path, 1));
        var missing = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load("/nonexistent", "train"));
        Assert.Contains("setup.sh", missing.Message);
    }
}
