using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using NfNet.Optim;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Checkpoints;

/// <summary>Counters and configuration stored with a checkpoint.</summary>
/// <param name="Epoch">Completed epochs.</param>
/// <param name="Step">Optimizer steps taken (the scheduler's position).</param>
/// <param name="EmaUpdates">EMA updates made.</param>
/// <param name="ModelName">The model's name.</param>
/// <param name="ModelConfig">The model's configuration as JSON (an NFNet's: rebuild with <see cref="TrainingCheckpoint.ReadConfig"/>), or null.</param>
/// <param name="Seed">The run's seed: with <see cref="Step"/> it determines all later randomness.</param>
/// <param name="WorldSize">Ranks of the data-parallel run that wrote it (1: one process). A run resumes with the same
/// number: the data order within an epoch depends on it.</param>
public sealed record CheckpointInfo(int Epoch, long Step, long EmaUpdates, string ModelName, string? ModelConfig = null, int Seed = 0, int WorldSize = 1);

/// <summary>
/// A training checkpoint in one file that cannot lie. Format 2 is a safetensors file: the model's state dict under
/// <c>model.&lt;name&gt;</c>, the EMA's shadow weights under <c>ema.&lt;name&gt;</c>, the optimizer's state through every
/// decorator (<see cref="OptimizerState"/>: momentum buffers, moments, learning rates, the decorators' counters) as the
/// byte tensor <c>optimizer.state</c>, the counters, configuration and optimizer stack in the header's metadata, and
/// last the 8-byte tensor <c>~checksum</c>: XxHash64 of every byte of the file before it. So every byte is covered;
/// <c>safetensors.torch.load_file</c> reads the weights; and a damaged, truncated, foreign or future file is refused
/// with a <see cref="CheckpointFormatException"/> before anything is loaded.
/// </summary>
/// <remarks>
/// Written atomically (<see cref="AtomicFile"/>): a crash or a full disk mid-write leaves the previous checkpoint intact.
/// With <c>keep</c> &gt; 1 the previous checkpoint is kept beside it as <c>&lt;name&gt;.step-&lt;N&gt;&lt;ext&gt;</c>, the
/// newest <c>keep</c> in all. Format 1 files (NfNet.NET before the checksum) are still read, with the same
/// no-partial-load guarantee but without the checksum's protection of the weights.
/// </remarks>
public static class TrainingCheckpoint
{
    /// <summary>The format this version writes.</summary>
    public const int FormatVersion = 2;

    private const string LegacyMagic = "NfNet.TrainingCheckpoint/1";
    private const string ChecksumKey = "~checksum";
    private const string OptimizerKey = "optimizer.state";
    private const string ModelPrefix = "model.";
    private const string EmaPrefix = "ema.";
    private const string FormatMeta = "nfnet.checkpoint";
    private const string InfoMeta = "nfnet.info";
    private const string StackMeta = "nfnet.optimizer_stack";

    /// <summary>Writes a checkpoint to <paramref name="path"/> atomically; with <paramref name="keep"/> &gt; 1 the previous
    /// one is kept beside it (the newest <paramref name="keep"/> in all).</summary>
    /// <exception cref="IOException">The write failed (a full disk, say): the previous checkpoint is intact and no
    /// temporary file is left.</exception>
    public static void Save(string path, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema, CheckpointInfo info, int keep = 1)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), keep, "keep at least the newest checkpoint");
        var full = Path.GetFullPath(path);
        AtomicFile.RemoveStaleTemporaries(full);
        AtomicFile.WriteVia(full, temp =>
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
            {
                Write(file, model, optimizer, ema, info);
                file.Flush(flushToDisk: true);
            }
            if (keep > 1 && File.Exists(full)) KeepPrevious(full);
        });
        if (keep > 1) Prune(full, keep);
    }

    /// <summary>Writes a checkpoint to a seekable, readable <paramref name="stream"/> (not atomic by itself).</summary>
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
            [FormatMeta] = FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
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

    /// <summary>Checks <paramref name="path"/> completely (checksum over every byte, structure, counters) without a
    /// model, and returns its counters.</summary>
    /// <exception cref="CheckpointFormatException">The file is damaged, truncated, foreign or from a future format.</exception>
    public static CheckpointInfo Verify(string path)
    {
        using var file = Open(path);
        return Verify(file, path);
    }

    /// <summary><see cref="Verify(string)"/> on a seekable <paramref name="stream"/> holding a whole checkpoint;
    /// <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="CheckpointFormatException">The bytes are not a valid checkpoint.</exception>
    public static CheckpointInfo Verify(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return IsLegacy(stream) ? LegacyInfo(stream, name) : VerifiedHeader(stream, name).Info;
    }

    /// <summary>Reads the counters and configuration of the checkpoint at <paramref name="path"/> (verified as
    /// <see cref="Verify(string)"/> does).</summary>
    /// <exception cref="CheckpointFormatException">The file is not a valid checkpoint.</exception>
    public static CheckpointInfo ReadInfo(string path) => Verify(path);

    /// <summary>The NFNet configuration stored in the checkpoint at <paramref name="path"/>, to rebuild the model before
    /// <see cref="Load"/>; null when none was stored.</summary>
    public static NfNet.Models.NFNetConfig? ReadConfig(string path) =>
        ReadInfo(path).ModelConfig is { } json ? JsonSerializer.Deserialize<NfNet.Models.NFNetConfig>(json) : null;

    /// <summary>
    /// Restores a checkpoint into a model, optimizer and EMA built the same way as when it was saved. The file is
    /// verified completely, and its tensors checked against the model's and the EMA's names, shapes and dtypes, before
    /// anything is touched; if the optimizer state does not fit, the optimizer is rolled back.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is damaged, truncated, foreign, from a future format, or does
    /// not fit; the model, optimizer and EMA are unchanged.</exception>
    public static CheckpointInfo Load(string path, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        using var file = Open(path);
        if (IsLegacy(file)) return LoadLegacy(file, path, model, optimizer, ema);
        var (info, header) = VerifiedHeader(file, path);
        file.Position = 0;
        Dictionary<string, Tensor> tensors;
        try { tensors = SafetensorsReader.Load(file, path); }
        catch (WeightFileException e) { throw new CheckpointFormatException(path, "file", e.Message, e); }
        try
        {
            return Apply(path, info, header, tensors, model, optimizer, ema);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static CheckpointInfo Apply(string path, CheckpointInfo info, SafetensorsHeader header, Dictionary<string, Tensor> tensors,
        nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema)
    {
        // Everything is checked against the receivers first.
        var modelState = model.state_dict();
        var saved = tensors.Keys.Where(k => k.StartsWith(ModelPrefix, StringComparison.Ordinal)).Select(k => k[ModelPrefix.Length..]).ToHashSet();
        foreach (var (name, target) in modelState)
        {
            if (!tensors.TryGetValue(ModelPrefix + name, out var t))
                throw new CheckpointFormatException(path, "model", $"no tensor for '{name}' (the file has {saved.Count} model tensors, the model {modelState.Count})");
            Fits(path, "model", name, target, t);
        }
        if (saved.Count != modelState.Count)
            throw new CheckpointFormatException(path, "model", $"the file has tensors the model does not: {string.Join(", ", saved.Except(modelState.Keys).Take(5))}");
        var emaState = ema?.StateDict();
        var emaSaved = tensors.Where(kv => kv.Key.StartsWith(EmaPrefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[EmaPrefix.Length..], kv => kv.Value);
        if (emaState is not null && emaSaved.Count > 0)
        {
            foreach (var (name, target) in emaState)
                if (!emaSaved.TryGetValue(name, out var t)) throw new CheckpointFormatException(path, "ema", $"no shadow weight for '{name}'");
                else Fits(path, "ema", name, target, t);
            if (emaSaved.Count != emaState.Count) throw new CheckpointFormatException(path, "ema", $"{emaSaved.Count} shadow weights in the file, {emaState.Count} in the EMA");
        }
        var stack = OptimizerState.Describe(optimizer);
        if (header.Metadata.GetValueOrDefault(StackMeta) is { } savedStack && savedStack != stack)
            throw new CheckpointFormatException(path, "optimizer", $"saved from the optimizer stack '{savedStack}', loading into '{stack}'");
        if (!tensors.TryGetValue(OptimizerKey, out var optimizerBytes) || optimizerBytes.dtype != ScalarType.Byte)
            throw new CheckpointFormatException(path, "optimizer", $"no '{OptimizerKey}' byte tensor");

        // Then applied: the optimizer first (the one part that can still refuse), rolled back if it does.
        RestoreOptimizer(path, optimizer, optimizerBytes.data<byte>().ToArray());
        using (no_grad())
            foreach (var (name, target) in modelState) target.copy_(tensors[ModelPrefix + name]);
        NfNet.Layers.ScaledWSConv2d.InvalidateWeightCaches();
        if (emaState is not null && emaSaved.Count > 0) ema!.LoadStateDict(emaSaved, info.EmaUpdates);
        return info;
    }

    /// <summary>
    /// The newest checkpoint among <paramref name="path"/> and the older ones kept beside it (<c>keep</c> &gt; 1) that
    /// verifies completely; damaged ones are skipped and listed in <paramref name="skipped"/> with the reason.
    /// </summary>
    /// <returns>The path of the newest valid checkpoint, or null when there is none.</returns>
    public static string? FindNewestValid(string path, out IReadOnlyList<(string Path, string Reason)> skipped)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var candidates = new List<(string Path, long Step)>();
        var bad = new List<(string, string)>();
        foreach (var candidate in Siblings(full).Prepend(full).Where(File.Exists))
        {
            try { candidates.Add((candidate, Verify(candidate).Step)); }
            catch (CheckpointFormatException e) { bad.Add((candidate, e.Message)); }
        }
        skipped = bad;
        return candidates.OrderByDescending(c => c.Step).Select(c => c.Path).FirstOrDefault();
    }

    private static FileStream Open(string path)
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

    private static (CheckpointInfo Info, SafetensorsHeader Header) VerifiedHeader(Stream file, string path)
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
        if (version != FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
            throw new CheckpointFormatException(path, "header", $"format {version}, but this version of NfNet.NET reads formats 1 and {FormatVersion}");
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

    private static void Fits(string path, string section, string name, Tensor target, Tensor saved)
    {
        if (!target.shape.SequenceEqual(saved.shape) || target.dtype != saved.dtype)
            throw new CheckpointFormatException(path, section,
                $"'{name}' is {saved.dtype} [{string.Join(", ", saved.shape)}] in the file but {target.dtype} [{string.Join(", ", target.shape)}] here");
    }

    private static void RestoreOptimizer(string path, optim.Optimizer optimizer, byte[] state)
    {
        using var snapshot = new MemoryStream();
        using (var writer = new BinaryWriter(snapshot, Encoding.UTF8, leaveOpen: true)) OptimizerState.Save(optimizer, writer);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(state));
            OptimizerState.Load(optimizer, reader);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            snapshot.Position = 0;
            using (var reader = new BinaryReader(snapshot)) OptimizerState.Load(optimizer, reader);
            throw new CheckpointFormatException(path, "optimizer", $"the optimizer state does not fit this optimizer: {e.Message}", e);
        }
    }

    // Older checkpoints kept beside the newest: <name>.step-<N><ext>.
    private static string KeptName(string full, long step) =>
        Path.Combine(Path.GetDirectoryName(full)!, $"{Path.GetFileNameWithoutExtension(full)}.step-{step:D10}{Path.GetExtension(full)}");

    private static IEnumerable<string> Siblings(string full)
    {
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) return Array.Empty<string>();
        return Directory.GetFiles(directory, $"{Path.GetFileNameWithoutExtension(full)}.step-*{Path.GetExtension(full)}").Order(StringComparer.Ordinal);
    }

    private static void KeepPrevious(string full)
    {
        long step;
        try { step = Verify(full).Step; }
        catch (CheckpointFormatException) { return; } // a damaged previous file is replaced, not kept
        File.Move(full, KeptName(full, step), overwrite: true);
    }

    private static void Prune(string full, int keep)
    {
        foreach (var old in Siblings(full).Reverse().Skip(keep - 1)) File.Delete(old);
    }

    // ---- Format 1 (before the checksum): a BinaryWriter string magic, JSON counters, TorchSharp's module format, the
    // optimizer state and the EMA as float64 values. Read with snapshots, so that a failure leaves everything as it was.

    private static bool IsLegacy(Stream file)
    {
        file.Position = 0;
        var magic = Encoding.UTF8.GetBytes(LegacyMagic);
        if (file.Length < magic.Length + 1 || file.ReadByte() != magic.Length) return false;
        var bytes = new byte[magic.Length];
        file.ReadExactly(bytes);
        file.Position = 0;
        return bytes.AsSpan().SequenceEqual(magic);
    }

    private static CheckpointInfo LegacyInfo(Stream file, string path)
    {
        using var reader = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
        try
        {
            reader.ReadString();
            return JsonSerializer.Deserialize<CheckpointInfo>(reader.ReadString()) ?? throw new JsonException("null");
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or IOException)
        {
            throw new CheckpointFormatException(path, "counters", $"format 1 counters are unreadable: {e.Message}", e);
        }
    }

    private static CheckpointInfo LoadLegacy(FileStream file, string path, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema)
    {
        var info = LegacyInfo(file, path);
        var modelSnapshot = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        using var optimizerSnapshot = new MemoryStream();
        using (var writer = new BinaryWriter(optimizerSnapshot, Encoding.UTF8, leaveOpen: true)) OptimizerState.Save(optimizer, writer);
        var emaSnapshot = ema?.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var emaUpdates = ema?.UpdateCount ?? 0;
        try
        {
            file.Position = 0;
            using var reader = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
            reader.ReadString();
            reader.ReadString();
            model.load(reader);
            OptimizerState.Load(optimizer, reader);
            if (reader.ReadBoolean() && ema is not null)
            {
                var count = reader.ReadInt32();
                var current = ema.StateDict();
                var loaded = new Dictionary<string, Tensor>();
                using var scope = NewDisposeScope();
                for (var i = 0; i < count; i++)
                {
                    var name = reader.ReadString();
                    var n = reader.ReadInt32();
                    if (!current.TryGetValue(name, out var like) || n != like.numel())
                        throw new InvalidDataException($"EMA tensor '{name}' does not fit");
                    var values = new double[n];
                    for (var j = 0; j < n; j++) values[j] = reader.ReadDouble();
                    loaded[name] = tensor(values).reshape(like.shape);
                }
                ema.LoadStateDict(loaded, info.EmaUpdates);
            }
            return info;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            using (no_grad())
                foreach (var (name, t) in model.state_dict()) t.copy_(modelSnapshot[name]);
            NfNet.Layers.ScaledWSConv2d.InvalidateWeightCaches();
            optimizerSnapshot.Position = 0;
            using (var reader = new BinaryReader(optimizerSnapshot)) OptimizerState.Load(optimizer, reader);
            if (ema is not null && emaSnapshot is not null) ema.LoadStateDict(emaSnapshot, emaUpdates);
            throw e as CheckpointFormatException ?? new CheckpointFormatException(path, "format 1 body", e.Message, e);
        }
        finally
        {
            foreach (var t in modelSnapshot.Values) t.Dispose();
            if (emaSnapshot is not null) foreach (var t in emaSnapshot.Values) t.Dispose();
        }
    }
}
