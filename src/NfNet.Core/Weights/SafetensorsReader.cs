using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// Reads safetensors files (the format of Hugging Face / timm weights): an 8-byte little-endian header length N,
/// N bytes of UTF-8 JSON (<c>{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {..}}</c>), then the raw
/// little-endian C-order data. Everything the format demands is validated before a tensor is created, so a corrupt
/// or truncated file raises <see cref="WeightFileException"/> naming the problem and returns nothing half-read.
/// Data is streamed straight into each tensor's memory, so single tensors may exceed 2 GB.
/// </summary>
public static class SafetensorsReader
{
    /// <summary>Largest header accepted (the reference implementation's limit): 100 MB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Reads every tensor of <paramref name="path"/> onto the CPU. The caller owns (disposes) the tensors.</summary>
    /// <exception cref="WeightFileException">The file is not valid safetensors; the message says why.</exception>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static Dictionary<string, Tensor> Load(string path)
    {
        using var stream = OpenRead(path);
        return Load(stream, path);
    }

    /// <summary>Reads the header (entries and metadata) of <paramref name="path"/> without reading tensor data.</summary>
    public static SafetensorsHeader ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>Reads every tensor from a seekable <paramref name="stream"/> positioned at the start of the file.</summary>
    public static Dictionary<string, Tensor> Load(Stream stream, string? sourceName = null)
    {
        var header = ReadHeader(stream, sourceName);
        var result = new Dictionary<string, Tensor>(header.Entries.Count, StringComparer.Ordinal);
        try
        {
            var dataStart = header.DataStart;
            foreach (var entry in header.Entries.OrderBy(e => e.Begin))
            {
                stream.Position = dataStart + entry.Begin;
                var tensor = empty(entry.Shape, dtype: entry.DType);
                result.Add(entry.Name, tensor);
                Fill(tensor, stream, entry.ByteCount, entry.Name, sourceName);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Reads and validates the header of a safetensors <paramref name="stream"/>.</summary>
    /// <exception cref="WeightFileException">Any violation of the format.</exception>
    public static SafetensorsHeader ReadHeader(Stream stream, string? sourceName = null)
    {
        WeightFileException Bad(string message, Exception? inner = null) => new(message, sourceName, inner);

        if (!stream.CanSeek) throw new ArgumentException("safetensors reading needs a seekable stream", nameof(stream));
        var fileLength = stream.Length;
        if (fileLength < 8) throw Bad($"file is {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(lenBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength < 2) throw Bad($"header length {headerLength} is too small for a JSON object");
        if (headerLength > MaxHeaderBytes) throw Bad($"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        if (8 + (long)headerLength > fileLength)
            throw Bad($"header length {headerLength} runs past the end of the {fileLength}-byte file (truncated?)");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        string json;
        try { json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(headerBytes); }
        catch (DecoderFallbackException e) { throw Bad("header is not valid UTF-8", e); }
        if (!json.StartsWith('{')) throw Bad("header does not start with '{'");

        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw Bad($"header is not well-formed JSON: {e.Message}", e); }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header JSON is not an object");
            var names = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!names.Add(prop.Name)) throw Bad($"duplicate name '{prop.Name}' in header");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"__metadata__ value '{m.Name}' is not a string");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Bad($"duplicate __metadata__ key '{m.Name}'");
                    }
                    continue;
                }
                entries.Add(ParseEntry(prop, Bad));
            }

            // Offsets: sorted by start, the entries must tile [0, data length) exactly.
            var dataLength = fileLength - 8 - (long)headerLength;
            long expected = 0;
            foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin != expected)
                    throw Bad(e.Begin > expected
                        ? $"tensor '{e.Name}' starts at {e.Begin}, leaving a hole after byte {expected}"
                        : $"tensor '{e.Name}' starts at {e.Begin}, overlapping the previous tensor that ends at {expected}");
                expected = e.End;
            }
            if (expected != dataLength)
                throw Bad(expected > dataLength
                    ? $"tensor data needs {expected} bytes but the file has only {dataLength} after the header (truncated?)"
                    : $"file has {dataLength - expected} bytes after the last tensor");
            return new SafetensorsHeader(entries, metadata, 8 + (long)headerLength);
        }
    }

    private static SafetensorsEntry ParseEntry(JsonProperty prop, Func<string, Exception?, WeightFileException> bad)
    {
        var name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object) throw bad($"entry '{name}' is not an object", null);
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw bad($"entry '{name}' has no dtype string", null);
        var dtype = dt.GetString()!;
        if (!SafetensorsDType.TryParse(dtype, out var type, out var size))
            throw bad($"entry '{name}' has dtype '{dtype}', which has no TorchSharp type (supported: {string.Join(", ", SafetensorsDType.Names)})", null);
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw bad($"entry '{name}' has no shape array", null);
        var shape = new long[sh.GetArrayLength()];
        var i = 0;
        long numel = 1;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
                throw bad($"entry '{name}' has an invalid dimension {d.GetRawText()} in its shape", null);
            shape[i++] = dim;
            try { numel = checked(numel * dim); }
            catch (OverflowException) { throw bad($"entry '{name}' shape overflows", null); }
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw bad($"entry '{name}' has no [begin, end] data_offsets", null);
        var begin = off[0];
        var end = off[1];
        if (begin.ValueKind != JsonValueKind.Number || !begin.TryGetInt64(out var b) || b < 0 ||
            end.ValueKind != JsonValueKind.Number || !end.TryGetInt64(out var e) || e < 0)
            throw bad($"entry '{name}' has invalid data_offsets {off.GetRawText()}", null);
        if (e < b) throw bad($"entry '{name}' data_offsets end {e} is before begin {b}", null);
        long bytes;
        try { bytes = checked(numel * size); }
        catch (OverflowException) { throw bad($"entry '{name}' byte count overflows", null); }
        if (e - b != bytes)
            throw bad($"entry '{name}' has {e - b} bytes but {dtype} {InvalidInputException.Describe(shape)} needs {bytes}", null);
        return new SafetensorsEntry(name, type, shape, b, e);
    }

    private static void Fill(Tensor tensor, Stream stream, long byteCount, string name, string? source)
    {
        if (byteCount == 0) return;
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; this machine is not");
        // Stream through bounded views of the tensor's own memory: no intermediate copy and no 2 GB span limit.
        if (!TensorBytes.ReadFrom(tensor, stream))
            throw new WeightFileException($"tensor '{name}' ends early: file truncated", source);
    }

    private static FileStream OpenRead(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"no safetensors file at '{path}'", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }
}
