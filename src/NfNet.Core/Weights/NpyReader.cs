using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// Reads NumPy's <c>.npy</c> arrays (format versions 1–3) and <c>.npz</c> archives (a zip of <c>.npy</c> files, stored or
/// deflated) into tensors. Supported dtypes: little-endian or byte-order-free float64/32/16, int64/32/16/8, uint8 and
/// bool; C or Fortran order. Anything else, or a malformed header, raises <see cref="WeightFileException"/>.
/// </summary>
public static partial class NpyReader
{
    private static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    /// <summary>Every array of the <c>.npz</c> file at <paramref name="path"/>, by name (without <c>.npy</c>).</summary>
    public static Dictionary<string, Tensor> LoadNpz(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"npz file not found: {path}", path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (var entry in zip.Entries)
            {
                if (entry.FullName.EndsWith('/')) continue;
                var name = entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName;
                using var s = entry.Open();
                using var buffered = new MemoryStream();
                s.CopyTo(buffered);
                buffered.Position = 0;
                if (!result.TryAdd(name, ReadNpy(buffered, $"{path}:{entry.FullName}")))
                    throw new WeightFileException($"duplicate array '{name}'", path);
            }
        }
        catch (InvalidDataException e)
        {
            foreach (var t in result.Values) t.Dispose();
            throw new WeightFileException($"not a valid npz (zip) archive: {e.Message}", path, e);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Reads one <c>.npy</c> array from <paramref name="stream"/>.</summary>
    public static Tensor ReadNpy(Stream stream, string? sourceName = null)
    {
        WeightFileException Bad(string m) => new(m, sourceName);
        var prefix = new byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8 || !prefix.AsSpan(0, 6).SequenceEqual(Magic))
            throw Bad("not a .npy array (bad magic)");
        int headerLength;
        switch (prefix[6])
        {
            case 1:
                var two = new byte[2];
                if (stream.ReadAtLeast(two, 2, false) < 2) throw Bad("truncated .npy header length");
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(two);
                break;
            case 2 or 3:
                var four = new byte[4];
                if (stream.ReadAtLeast(four, 4, false) < 4) throw Bad("truncated .npy header length");
                headerLength = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(four));
                break;
            default:
                throw Bad($".npy format version {prefix[6]} is not supported");
        }
        if (headerLength is <= 0 or > 1 << 20) throw Bad($".npy header length {headerLength} is not sane");
        var headerBytes = new byte[headerLength];
        if (stream.ReadAtLeast(headerBytes, headerLength, false) < headerLength) throw Bad("truncated .npy header");
        var header = (prefix[6] == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);

        var descr = DescrPattern().Match(header);
        var order = FortranPattern().Match(header);
        var shapeMatch = ShapePattern().Match(header);
        if (!descr.Success || !order.Success || !shapeMatch.Success) throw Bad($"malformed .npy header: {header.Trim()}");
        var shape = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.TryParse(d, out var v) && v >= 0 ? v : throw Bad($"bad dimension '{d}' in .npy shape")).ToArray();
        var fortran = order.Groups[1].Value == "True";
        var (dtype, size) = descr.Groups[1].Value switch
        {
            "<f8" => (ScalarType.Float64, 8),
            "<f4" => (ScalarType.Float32, 4),
            "<f2" => (ScalarType.Float16, 2),
            "<i8" => (ScalarType.Int64, 8),
            "<i4" => (ScalarType.Int32, 4),
            "<i2" => (ScalarType.Int16, 2),
            "|i1" => (ScalarType.Int8, 1),
            "|u1" => (ScalarType.Byte, 1),
            "|b1" => (ScalarType.Bool, 1),
            var d => throw Bad($".npy dtype '{d}' is not supported (little-endian floats, ints, uint8 and bool are)"),
        };
        long count = shape.Aggregate(1L, (a, b) => checked(a * b));
        var bytes = checked(count * size);
        var storageShape = fortran ? shape.Reverse().ToArray() : shape;
        var t = empty(storageShape, dtype: dtype);
        try
        {
            if (bytes > 0 && !TensorBytes.ReadFrom(t, stream)) throw Bad($"truncated .npy data (expected {bytes} bytes)");
            if (stream.ReadByte() != -1 && stream.CanSeek) throw Bad(".npy has bytes after its data");
            if (!fortran) return t;
            var dims = Enumerable.Range(0, shape.Length).Select(i => (long)(shape.Length - 1 - i)).ToArray();
            using (t)
            using (var transposed = t.permute(dims))
                return transposed.contiguous();
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
