using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using NfNet.IO;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// Writes the safetensors format as the reference writer does: an 8-byte little-endian header length, a JSON header
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, …, "__metadata__": {…}}</c>) padded with spaces to a
/// multiple of 8 bytes, then the tensors' little-endian bytes back to back in header order. Tensors are streamed in
/// chunks, so no array needs to fit in 2 GB. Files are written atomically (<see cref="AtomicFile"/>).
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> (any device, contiguous or not) to <paramref name="path"/> atomically.</summary>
    /// <exception cref="NotSupportedException">A tensor's dtype has no safetensors name (e.g. complex).</exception>
    /// <exception cref="ArgumentException">A name is empty or is <c>__metadata__</c>.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        AtomicFile.WriteVia(path, temp =>
        {
            using var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            Write(file, tensors, metadata);
            file.Flush(flushToDisk: true);
        });
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="stream"/> in order of their names (ordinal).</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        var header = BuildHeader(ordered, metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var (_, t) in ordered) WriteData(stream, t);
    }

    /// <summary>The header bytes, padded with spaces so that the data starts 8-byte aligned.</summary>
    private static byte[] BuildHeader(KeyValuePair<string, Tensor>[] ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in ordered)
            {
                if (string.IsNullOrEmpty(name) || name == "__metadata__")
                    throw new ArgumentException($"'{name}' cannot be a tensor name in safetensors", nameof(ordered));
                var bytes = t.numel() * SafetensorsDType.SizeOf(t.dtype);
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDType.NameOf(t.dtype));
                json.WriteStartArray("shape");
                foreach (var d in Shapes.Of(t)) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        var raw = buffer.ToArray();
        var padded = (raw.Length + 7) / 8 * 8;
        var header = new byte[padded];
        raw.CopyTo(header, 0);
        header.AsSpan(raw.Length).Fill((byte)' ');
        return header;
    }

    private static void WriteData(Stream stream, Tensor t)
    {
        if (t.numel() == 0) return;
        using var scope = NewDisposeScope();
        TensorBytes.WriteTo(t.detach().cpu().contiguous(), stream);
    }

    /// <summary>
    /// Saves <paramref name="module"/>'s state dict (parameters and persistent buffers) with its own names — timm's names
    /// for NFNets — so that <c>timm.create_model("dm_nfnet_f0", pretrained=True, pretrained_cfg_overlay=dict(file=path))</c>
    /// or <c>safetensors.torch.load_file</c> can read it.
    /// </summary>
    public static void SaveSafetensors(this nn.Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { ["format"] = "pt" };
        Save(path, module.state_dict(), meta);
    }
}
