using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-stw-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void EveryDtypeScalarAndEmptyTensorRoundTripsBitExactly()
    {
        manual_seed(1);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f64"] = randn(3, 2, dtype: ScalarType.Float64),
            ["f32"] = randn(5),
            ["f16"] = randn(2, 2).to(ScalarType.Float16),
            ["bf16"] = randn(7).to(ScalarType.BFloat16),
            ["i64"] = tensor(new long[] { long.MinValue, -1, 0, long.MaxValue }),
            ["i32"] = tensor(new[] { int.MinValue, 7 }),
            ["i16"] = tensor(new short[] { -3, 300 }),
            ["i8"] = tensor(new sbyte[] { -128, 127 }),
            ["u8"] = tensor(new byte[] { 0, 255, 1 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(3.5f),
            ["empty"] = zeros(0, 4),
            ["strided"] = randn(4, 3).t(), // not contiguous: written in logical order
        };
        var path = PathOf("all.safetensors");
        SafetensorsWriter.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" });
        var header = SafetensorsReader.ReadHeader(path);
        Assert.Equal("ünïcode", header.Metadata["note"]);
        var back = SafetensorsReader.Load(path);
        Assert.Equal(tensors.Keys.Order(), back.Keys.Order());
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(t.dtype, back[name].dtype);
            Assert.Equal(t.shape, back[name].shape);
            Assert.True(t.eq(back[name]).all().ReadBoolean(), name);
        }
    }

    [Fact]
    public void FilesAreByteValidPerTheFormat()
    {
        var path = PathOf("layout.safetensors");
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["b"] = ones(3), ["a"] = ones(2, dtype: ScalarType.Float64), ["c"] = ones(1, dtype: ScalarType.Byte) });
        var bytes = File.ReadAllBytes(path);
        var n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + n) % 8);                      // data starts 8-byte aligned
        var json = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.Equal(json.TrimEnd(' '), json.TrimEnd(' ').Trim()); // padding is trailing spaces only
        using var doc = JsonDocument.Parse(json);
        long expected = 0;
        foreach (var name in new[] { "a", "b", "c" })       // name order, contiguous offsets
        {
            var offsets = doc.RootElement.GetProperty(name).GetProperty("data_offsets");
            Assert.Equal(expected, offsets[0].GetInt64());
            expected = offsets[1].GetInt64();
        }
        Assert.Equal(2 * 8 + 3 * 4 + 1, expected);
        Assert.Equal(8 + n + expected, bytes.Length);
    }

    [Fact]
    public void ModelExportRoundTripsBitExactlyWithTimmNames()
    {
        using var model = TestFixtures.LoadTiny();
        var path = PathOf("tiny-export.safetensors");
        model.SaveSafetensors(path);
        var names = SafetensorsReader.ReadHeader(path).Entries.Select(e => e.Name).Order(StringComparer.Ordinal);
        Assert.Equal(SafetensorsReader.ReadHeader(TestFixtures.TinyWeights).Entries.Select(e => e.Name).Order(StringComparer.Ordinal), names);
        using var copy = new NFNet(TestFixtures.TinyConfig);
        var report = copy.LoadSafetensors(path);
        Assert.True(report.IsExact);
        foreach (var ((name, a), (_, b)) in model.state_dict().Zip(copy.state_dict()))
            Assert.True(a.eq(b).all().ReadBoolean(), name);
        // And the re-export is byte-identical to the first one.
        var again = PathOf("tiny-export-2.safetensors");
        copy.SaveSafetensors(again);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
    }

    [Fact]
    public void Bf16AndFloat32ConvertExactlyOnLoadWhereRepresentable()
    {
        using var model = TestFixtures.LoadTiny();
        // bf16 file → float32 model: every bf16 value is a float32 value, so the load is exact.
        var bf16 = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        var path = PathOf("bf16.safetensors");
        SafetensorsWriter.Save(path, bf16);
        using var f32 = new NFNet(TestFixtures.TinyConfig);
        f32.LoadSafetensors(path);
        foreach (var (name, t) in f32.state_dict())
        {
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.True(t.eq(bf16[name].to(ScalarType.Float32)).all().ReadBoolean(), name);
        }
        // float32 file whose values are bf16-representable → bf16 model: exact as well.
        var f32Path = PathOf("f32.safetensors");
        f32.SaveSafetensors(f32Path);
        using var b = new NFNet(TestFixtures.TinyConfig);
        b.to(ScalarType.BFloat16);
        b.LoadSafetensors(f32Path);
        foreach (var (name, t) in b.state_dict()) Assert.True(t.eq(bf16[name]).all().ReadBoolean(), name);
    }

    [Fact]
    public void AFailedWriteLeavesThePreviousFileIntact()
    {
        var path = PathOf("keep.safetensors");
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["x"] = ones(4) });
        var before = File.ReadAllBytes(path);
        var complex = zeros(2, dtype: ScalarType.ComplexFloat32); // no safetensors dtype: fails while writing the header
        Assert.Throws<NotSupportedException>(() => SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["a"] = ones(3), ["z"] = complex }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void TheSharedAtomicWriterRemovesTemporariesThatADeadProcessLeftAndKeepsALiveOnes()
    {
        // The one temporary-file rule of NfNet.IO.AtomicFile, which checkpoints and ONNX files share.
        var path = PathOf("w.safetensors");
        var dead = PathOf(".w.tmp-2147483646-0123456789abcdef.safetensors"); // no such process
        var live = PathOf($".w.tmp-{Environment.ProcessId}-0123456789abcdef.safetensors");
        File.WriteAllText(dead, "half a file");
        File.WriteAllText(live, "a write in progress");
        using var x = ones(3);
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["x"] = x });
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live));
        Assert.Equal(new[] { live, path }.Order(StringComparer.Ordinal), Directory.GetFiles(_dir).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FuzzedFilesRaiseTheTypedErrorAndNeverTouchTheModel()
    {
        using var source = new NFNet(TestFixtures.TinyConfig);
        var valid = PathOf("valid.safetensors");
        source.SaveSafetensors(valid);
        var bytes = File.ReadAllBytes(valid);
        var headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var target = new NFNet(TestFixtures.TinyConfig);
        var snapshot = target.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var random = new Random(2026);
        var typed = 0;
        for (var i = 0; i < 300; i++)
        {
            var corrupt = (byte[])bytes.Clone();
            switch (i % 4)
            {
                case 0: corrupt = corrupt[..random.Next(0, corrupt.Length - 1)]; break;              // truncation
                case 1: corrupt[random.Next(0, headerEnd)] ^= (byte)(1 << random.Next(8)); break;    // header bit flip
                case 2: corrupt[random.Next(8, headerEnd)] = (byte)random.Next(256); break;          // header byte
                default: BinaryPrimitives.WriteUInt64LittleEndian(corrupt, (ulong)random.NextInt64()); break; // length
            }
            var path = PathOf($"fuzz-{i}.safetensors");
            File.WriteAllBytes(path, corrupt);
            var failed = false;
            try
            {
                target.LoadSafetensors(path);
                // A flip that keeps the header valid (e.g. in JSON whitespace) may still load; put the weights back.
                using (no_grad()) foreach (var (name, t) in target.state_dict()) t.copy_(snapshot[name]);
            }
            catch (WeightFileException) { typed++; failed = true; }
            catch (StateDictMismatchException) { typed++; failed = true; }
            File.Delete(path);
            if (failed)
                foreach (var (name, t) in target.state_dict())
                    if (!t.eq(snapshot[name]).all().ReadBoolean())
                        Assert.Fail($"case {i}: a failed load modified '{name}'");
        }
        Assert.True(typed >= 280, $"only {typed} of 300 corrupt files raised a typed error");
    }
}
