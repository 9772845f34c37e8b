using System.Buffers.Binary;
using System.Diagnostics;
using Google.Protobuf;
using NfNet.Models;
using NfNet.Onnx.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Onnx.Tests;

/// <summary>
/// The ONNX Runtime path meets the same untrusted inputs as the TorchSharp path and refuses them the same way: an image
/// header that claims 40000² pixels, a FIFO and a link to <c>/dev/zero</c> named like images, and a model file whose
/// metadata gives another class count than its graph (which would slice one image's logits into the next).
/// </summary>
public sealed class OnnxUntrustedInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-onnx-untrusted-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Export(int classes, Action<global::Onnx.ModelProto>? edit = null)
    {
        manual_seed(5);
        using var model = new NFNet(new NFNetConfig
        {
            Name = "untrusted", Widths = new[] { 32, 64 }, Depths = new[] { 1, 1 }, StemWidth = 16, GroupWidth = 16, NumClasses = classes,
            DropRate = 0, StochasticDepthRate = 0,
        });
        model.eval();
        var proto = OnnxExporter.Build(model, 32, 32, new OnnxExportOptions());
        edit?.Invoke(proto);
        var path = Path.Combine(_dir, $"model-{classes}-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, proto.ToByteArray());
        return path;
    }

    // A PNG signature, an IHDR chunk (with its CRC) for a width × height RGB image and a stub IDAT: 49 bytes that claim
    // the pixels and hold none of them.
    private static byte[] TruncatedPng(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2;                                   // 8 bits, RGB
        static byte[] Chunk(string type, byte[] data)
        {
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            var chunk = new byte[8 + data.Length + 4];
            BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
            typed.CopyTo(chunk, 4);
            BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32(typed));
            return chunk;
        }
        return new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }.Concat(Chunk("IHDR", ihdr))
            .Concat(Chunk("IDAT", new byte[] { 0x78, 0x9C, 0x03, 0x00 })).ToArray();
    }

    // PNG's CRC-32 (ISO 3309, reflected polynomial 0xEDB88320), bit by bit.
    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    [Fact]
    public void AHeaderClaiming40000SquaredPixelsIsRefusedBeforeItsPixelsAreAllocated()
    {
        using var classifier = new OnnxClassifier(Export(3));
        var png = Path.Combine(_dir, "huge.png");
        File.WriteAllBytes(png, TruncatedPng(40000, 40000));
        var before = Process.GetCurrentProcess().WorkingSet64;
        var error = Assert.Throws<InvalidDataException>(() => ImagePreprocessor.Load(png, classifier));
        Assert.Contains("huge.png", error.Message);
        Assert.Contains("40000x40000", error.Message);
        Assert.InRange(Process.GetCurrentProcess().WorkingSet64 - before, long.MinValue, 200L << 20);
    }

    [Fact]
    public void ATruncatedImageOfPlausibleSizeIsRefusedNotCompletedWithGrey()
    {
        using var classifier = new OnnxClassifier(Export(3));
        var png = Path.Combine(_dir, "cut.png");
        File.WriteAllBytes(png, TruncatedPng(64, 48));
        var error = Assert.Throws<InvalidDataException>(() => ImagePreprocessor.Load(png, classifier));
        Assert.Contains("cut.png", error.Message);
    }

    [Fact]
    public async Task AFifoAndALinkToDevZeroNamedLikeImagesAreRefusedAtOnce()
    {
        using var classifier = new OnnxClassifier(Export(3));
        var fifo = Path.Combine(_dir, "f.png");
        using (var mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        Assert.True(File.Exists(fifo));
        var zero = Path.Combine(_dir, "z.png");
        File.CreateSymbolicLink(zero, "/dev/zero");
        // Opening a FIFO waits for a writer: a time-out (TimeoutException) fails the test instead of hanging it.
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => Task.Run(() => ImagePreprocessor.Load(fifo, classifier)).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("FIFO", error.Message);
        Assert.Contains("character device", Assert.Throws<InvalidDataException>(() => ImagePreprocessor.Load(zero, classifier)).Message);
    }

    [Fact]
    public void MetadataThatDisagreesWithTheGraphsClassCountIsRefusedWhenTheFileIsOpened()
    {
        var lying = Export(10, proto => proto.MetadataProps.Single(m => m.Key == "nfnet.num_classes").Value = "5");
        var error = Assert.Throws<InvalidDataException>(() => new OnnxClassifier(lying));
        Assert.Contains("5 classes", error.Message);
        Assert.Contains("10 per image", error.Message);
        using var honest = new OnnxClassifier(Export(10));
        Assert.Equal(10, honest.NumClasses);
    }
}
