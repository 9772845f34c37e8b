using System.IO.Compression;
using System.Text;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class HaikuCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-npz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A .npy v1 file written by hand: magic, version, header dict padded to 64 bytes, little-endian data.</summary>
    private static byte[] Npy(Tensor t, bool fortran = false)
    {
        var descr = t.dtype switch { ScalarType.Float32 => "<f4", ScalarType.Float64 => "<f8", _ => throw new NotSupportedException() };
        var shape = t.dim() == 0 ? "()" : t.dim() == 1 ? $"({t.shape[0]},)" : $"({string.Join(", ", t.shape)})";
        var dict = $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shape}, }}";
        var total = (10 + dict.Length + 1 + 63) / 64 * 64;
        var header = dict.PadRight(total - 10 - 1) + "\n";
        var data = fortran
            ? t.permute(Enumerable.Range(0, (int)t.dim()).Reverse().Select(i => (long)i).ToArray()).contiguous()
            : t.contiguous();
        using var ms = new MemoryStream();
        ms.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 });
        ms.Write(BitConverter.GetBytes((ushort)header.Length));
        ms.Write(Encoding.ASCII.GetBytes(header));
        ms.Write(data.bytes);
        return ms.ToArray();
    }

    /// <summary>The model's weights under DeepMind's Haiku names and layouts (the inverse of spec §14's mapping).</summary>
    private static Dictionary<string, Tensor> ToHaiku(NFNet model)
    {
        var result = new Dictionary<string, Tensor>();
        var specs = model.BlockSpecs;
        foreach (var (name, value) in model.state_dict())
        {
            var parts = name.Split('.');
            string module, kind;
            if (parts[0] == "stem") { module = $"stem_conv{parts[1][^1] - '1'}"; kind = "conv"; }
            else if (parts[0] == "final_conv") { module = "final_conv"; kind = "conv"; }
            else if (parts[0] == "head") { module = "linear"; kind = "linear"; }
            else
            {
                var g = specs.Single(s => s.Stage == int.Parse(parts[1]) && s.Index == int.Parse(parts[2])).GlobalIndex;
                var block = g == 0 ? "nf_block" : $"nf_block_{g}";
                var inner = string.Join('.', parts[3..^1]);
                if (parts[3] == "skipinit_gain") { result[$"NFNet/~/{block}/skip_gain"] = value.reshape(1); continue; }
                (module, kind) = inner switch
                {
                    "conv1" => ($"{block}/~/conv0", "conv"),
                    "conv2" => ($"{block}/~/conv1", "conv"),
                    "conv2b" => ($"{block}/~/conv1b", "conv"),
                    "conv3" => ($"{block}/~/conv2", "conv"),
                    "downsample.conv" => ($"{block}/~/conv_shortcut", "conv"),
                    "attn_last.fc1" => ($"{block}/~/squeeze_excite/~/linear", "se"),
                    "attn_last.fc2" => ($"{block}/~/squeeze_excite/~/linear_1", "se"),
                    _ => throw new InvalidOperationException(name),
                };
            }
            var leaf = parts[^1];
            var (haikuLeaf, converted) = (leaf, kind) switch
            {
                ("weight", "conv") => ("w", value.permute(2, 3, 1, 0)),                 // OIHW → HWIO
                ("weight", "linear") => ("w", value.t()),                               // (O,I) → (I,O)
                ("weight", "se") => ("w", value.reshape(value.shape[0], value.shape[1]).t()),
                ("gain", _) => ("gain", value.reshape(-1)),
                ("bias", "conv") => ("bias", value),
                ("bias", _) => ("b", value),
                _ => throw new InvalidOperationException(name),
            };
            result[$"NFNet/~/{module}/{haikuLeaf}"] = converted.contiguous();
        }
        return result;
    }

    private string WriteNpz(Dictionary<string, Tensor> arrays, string fortranKey)
    {
        var path = Path.Combine(_dir, "F_tiny_haiku.npz");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, t) in arrays)
        {
            var entry = zip.CreateEntry(name + ".npy", CompressionLevel.Fastest);
            using var s = entry.Open();
            s.Write(Npy(t, fortran: name == fortranKey));
        }
        return path;
    }

    [Fact]
    public void ImportedHaikuWeightsEqualTheSameWeightsFromSafetensors()
    {
        using var reference = TestFixtures.LoadTiny();
        var haiku = ToHaiku(reference);
        Assert.Equal(165, haiku.Count);
        Assert.Equal(new long[] { 3, 3, 3, 2 }, haiku["NFNet/~/stem_conv0/w"].shape);          // HWIO
        Assert.Equal(new long[] { 256, 10 }, haiku["NFNet/~/linear/w"].shape);                  // (I, O)
        var path = WriteNpz(haiku, fortranKey: "NFNet/~/final_conv/w");

        using var imported = new NFNet(TestFixtures.TinyConfig);
        var report = imported.LoadHaikuNpz(path);
        Assert.True(report.IsExact, report.ToString());
        foreach (var ((name, a), (_, b)) in reference.state_dict().Zip(imported.state_dict()))
            Assert.True(a.eq(b).all().ReadBoolean(), name);
    }

    [Fact]
    public void UnknownNamesAndCorruptArchivesAreTypedErrors()
    {
        var config = TestFixtures.TinyConfig;
        var e = Assert.Throws<WeightFileException>(() => HaikuCheckpoint.ToTimmNames(
            new Dictionary<string, Tensor> { ["NFNet/~/mystery/w"] = ones(1) }, config));
        Assert.Contains("mystery", e.Message);
        var tooFar = Assert.Throws<WeightFileException>(() => HaikuCheckpoint.ToTimmNames(
            new Dictionary<string, Tensor> { ["NFNet/~/nf_block_99/~/conv0/w"] = ones(1, 1, 1, 1) }, config));
        Assert.Contains("wrong variant", tooFar.Message);

        var notZip = Path.Combine(_dir, "bad.npz");
        File.WriteAllBytes(notZip, Encoding.ASCII.GetBytes("definitely not a zip file"));
        using var model = new NFNet(config);
        Assert.Throws<WeightFileException>(() => model.LoadHaikuNpz(notZip));

        using var badNpy = new MemoryStream(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 4, 0, (byte)'{', (byte)'}', (byte)' ', (byte)'\n' });
        Assert.Throws<WeightFileException>(() => NpyReader.ReadNpy(badNpy));
    }

    [Fact]
    public void PretrainedRegistryHoldsThePublishedMetadata()
    {
        var f0 = PretrainedVariants.Get("dm_nfnet_f0");
        Assert.Equal((192, 256, 0.9, 1000), (f0.TrainSize, f0.TestSize, f0.CropPercent, f0.NumClasses));
        Assert.Equal("F0_haiku.npz", f0.DeepMindFile);
        Assert.Equal(new[] { 0.485, 0.456, 0.406 }, f0.Mean);
        Assert.Equal(86.5, PretrainedVariants.Get("F6").Top1);
        Assert.Equal(7, PretrainedVariants.All.Count);
        Assert.Throws<UnknownVariantException>(() => PretrainedVariants.Get("F7")); // no released weights
        Assert.Throws<UnknownVariantException>(() => PretrainedVariants.Get("F9"));
    }
}
