using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using NfNet.Optim;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Checkpoints;

/// <summary>
/// Format 2 on disk: a safetensors file whose header metadata holds the format version, the counters and the optimizer
/// stack, whose tensors are the model (<c>model.</c>), the EMA (<c>ema.</c>) and the optimizer state, and whose last
/// tensor <c>~checksum</c> is the XxHash64 of every byte before it. Writing, and verifying every byte before anything is read.
/// </summary>
internal static class CheckpointFormat
{
    public const int Version = 2;
    public const string ChecksumKey = "~checksum";
    public const string OptimizerKey = "optimizer.state";
    public const string ModelPrefix = "model.";
    public const string EmaPrefix = "ema.";
    public const string FormatMeta = "nfnet.checkpoint";
    public const string InfoMeta = "nfnet.info";
    public const string StackMeta = "nfnet.optimizer_stack";

    /// <summary>Writes a checkpoint to a seekable, readable stream (not atomic by itself).</summary>
    public static void Write(Stream stream, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema, CheckpointInfo info)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(info);
        if (!stream.CanSeek) throw new ArgumentException("a checkpoint is written to a seekable stream", nameof(stream));
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in model.state_dict()) tensors[ModelPrefix + name] = t;
        if (ema is not null)
            foreach (var (name, t) in ema.StateDict()) tensors[EmaPrefix + name] = t;
        using (var buffer = new MemoryStream())
        {
            using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) OptimizerState.Save(optimizer, writer);
            tensors[OptimizerKey] = tensor(buffer.ToArray());
        }
        tensors[ChecksumKey] = zeros(8, ScalarType.Byte); // the last tensor (ordinal order); its bytes are filled in below
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [FormatMeta] = Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [InfoMeta] = JsonSerializer.Serialize(info),
            [StackMeta] = OptimizerState.Describe(optimizer),
            ["nfnet.checksum"] = "xxhash64 (little-endian) of every byte before the ~checksum tensor's data",
        };
        var start = stream.Position;
        SafetensorsWriter.Write(stream, tensors, metadata);
        var end = stream.Position;
        stream.Position = start;
        var checksum = Hash(stream, end - start - 8);
        stream.Position = end - 8;
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, checksum);
        stream.Write(bytes);
        stream.Flush();
    }

    public static FileStream Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20); }
        catch (FileNotFoundException e) { throw new CheckpointFormatException(path, "file", "no such file", e); }
    }

    private static ulong Hash(Stream stream, long count)
    {
        var hash = new XxHash64();
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            while (count > 0)
            {
                var n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
                if (n == 0) throw new EndOfStreamException();
                hash.Append(buffer.AsSpan(0, n));
                count -= n;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        hash.Append(stackalloc byte[8]); // the checksum's own bytes count as zeros
        return hash.GetCurrentHashAsUInt64();
    }

    public static (CheckpointInfo Info, SafetensorsHeader Header) VerifiedHeader(Stream file, string path)
    {
        var length = file.Length;
        if (length == 0) throw new CheckpointFormatException(path, "file", "the file is empty");
        if (length < 16) throw new CheckpointFormatException(path, "file", $"{length} bytes is too short for a checkpoint");
        file.Position = 0;
        var computed = Hash(file, length - 8);
        Span<byte> stored = stackalloc byte[8];
        file.Position = length - 8;
        file.ReadExactly(stored);
        var expected = BinaryPrimitives.ReadUInt64LittleEndian(stored);
        if (computed != expected)
            throw new CheckpointFormatException(path, "checksum",
                $"the file's XxHash64 is {computed:x16} but it stores {expected:x16}: the file is damaged, truncated or has bytes appended " +
                "(or it is not an NfNet checkpoint)");
        file.Position = 0;
        SafetensorsHeader header;
        try { header = SafetensorsReader.ReadHeader(file, path); }
        catch (WeightFileException e) { throw new CheckpointFormatException(path, "header", e.Message, e); }
        if (!header.Metadata.TryGetValue(FormatMeta, out var version))
            throw new CheckpointFormatException(path, "header", "no 'nfnet.checkpoint' format entry: a safetensors file, but not an NfNet checkpoint");
        if (version != Version.ToString(System.Globalization.CultureInfo.InvariantCulture))
            throw new CheckpointFormatException(path, "header", $"format {version}, but this version of NfNet.NET reads formats 1 and {Version}");
        var last = header.Entries.MaxBy(e => e.End);
        if (last is null || last.Name != ChecksumKey || last.ByteCount != 8 || header.DataStart + last.End != length)
            throw new CheckpointFormatException(path, "header", $"the '{ChecksumKey}' tensor must be the file's last 8 bytes");
        if (!header.Metadata.TryGetValue(InfoMeta, out var json))
            throw new CheckpointFormatException(path, "counters", "no 'nfnet.info' entry");
        try
        {
            var info = JsonSerializer.Deserialize<CheckpointInfo>(json) ?? throw new JsonException("null");
            return (info, header);
        }
        catch (JsonException e) { throw new CheckpointFormatException(path, "counters", $"unreadable counters: {e.Message}", e); }
    }

}
