using System.Text;
using NfNet.Models;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class SafetensorsReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes a safetensors file by hand: 8-byte LE header length, JSON, data.</summary>
    private string Write(string json, byte[] data, string name = "t.safetensors")
    {
        var header = Encoding.UTF8.GetBytes(json);
        var path = Path.Combine(_dir, name);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)header.Length));
        f.Write(header);
        f.Write(data);
        return path;
    }

    [Fact]
    public void ReadsTheFixtureWithTimmNamesAndShapes()
    {
        var tensors = SafetensorsReader.Load(TestFixtures.TinyWeights);
        Assert.Equal(165, tensors.Count);
        Assert.Equal(new long[] { 2, 3, 3, 3 }, tensors["stem.conv1.weight"].shape);
        Assert.Empty(tensors["stages.0.0.skipinit_gain"].shape);
        Assert.All(tensors.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void ReadsValuesDtypesScalarsAndEmptyTensors()
    {
        var f32 = new float[] { 1.5f, -2f, 3.25f, 0f };
        var data = f32.SelectMany(BitConverter.GetBytes)
            .Concat(BitConverter.GetBytes(-7L))
            .Concat(new byte[] { 0x80, 0x3f }) // bf16 1.0
            .ToArray();
        var path = Write("""
            {"__metadata__":{"format":"pt"},
             "a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},
             "b":{"dtype":"I64","shape":[],"data_offsets":[16,24]},
             "c":{"dtype":"BF16","shape":[1],"data_offsets":[24,26]},
             "z":{"dtype":"F32","shape":[0,3],"data_offsets":[26,26]}}
            """, data);
        var t = SafetensorsReader.Load(path);
        Assert.Equal(f32, t["a"].data<float>().ToArray());
        Assert.Equal(-7L, t["b"].item<long>());
        Assert.Equal(1.0f, t["c"].to(ScalarType.Float32).item<float>());
        Assert.Equal(new long[] { 0, 3 }, t["z"].shape);
        Assert.Equal("pt", SafetensorsReader.ReadHeader(path).Metadata["format"]);
        foreach (var x in t.Values) x.Dispose();
    }

    public static TheoryData<string, int, string> CorruptHeaders => new()
    {
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""", 8, "well-formed JSON" },
        { """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 12" },
        { """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "truncated" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "hole" },
        { """{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}""", 8, "no TorchSharp type" },
        { """{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "invalid dimension" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", 16, "duplicate" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12, "after the last tensor" },
        { """["not an object"]""", 0, "start with '{'" },
        { """{"__metadata__":{"k":1}}""", 0, "not a string" },
    };

    [Theory]
    [MemberData(nameof(CorruptHeaders))]
    public void CorruptFileRaisesWeightFileExceptionNamingTheProblem(string json, int dataBytes, string problem)
    {
        var path = Write(json, new byte[dataBytes]);
        var e = Assert.Throws<WeightFileException>(() => SafetensorsReader.Load(path));
        Assert.Contains(problem, e.Message);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void HeaderLengthPastTheEndOfTheFileIsRejected()
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(path, BitConverter.GetBytes(1_000_000UL).Concat(new byte[] { (byte)'{', (byte)'}' }).ToArray());
        Assert.Throws<WeightFileException>(() => SafetensorsReader.Load(path));
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        Assert.Throws<WeightFileException>(() => SafetensorsReader.Load(path));
    }

    [Fact]
    public void TruncatedFixtureIsRejectedAtEveryCut()
    {
        var bytes = File.ReadAllBytes(TestFixtures.TinyWeights);
        var path = Path.Combine(_dir, "cut.safetensors");
        foreach (var cut in new[] { 0, 7, 8, 100, bytes.Length / 2, bytes.Length - 1 })
        {
            File.WriteAllBytes(path, bytes[..cut]);
            Assert.Throws<WeightFileException>(() => SafetensorsReader.Load(path));
        }
    }

    [Fact]
    public void MissingFileIsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => SafetensorsReader.Load(Path.Combine(_dir, "none.safetensors")));
}
