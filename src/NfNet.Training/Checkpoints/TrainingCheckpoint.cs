using System.Text;
using System.Text.Json;
using NfNet.IO;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Checkpoints;

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
public static partial class TrainingCheckpoint
{
    /// <summary>The format this version writes.</summary>
    public const int FormatVersion = CheckpointFormat.Version;

    private const string OptimizerKey = CheckpointFormat.OptimizerKey;
    private const string ModelPrefix = CheckpointFormat.ModelPrefix;
    private const string EmaPrefix = CheckpointFormat.EmaPrefix;

    /// <summary>Writes a checkpoint to <paramref name="path"/> atomically; with <paramref name="keep"/> &gt; 1 the previous
    /// one is kept beside it (the newest <paramref name="keep"/> in all).</summary>
    /// <exception cref="IOException">The write failed (a full disk, say): the previous checkpoint is intact and no
    /// temporary file is left.</exception>
    public static void Save(string path, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema, CheckpointInfo info, int keep = 1)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), keep, "keep at least the newest checkpoint");
        var full = Path.GetFullPath(path);
        AtomicFile.WriteVia(full, temp =>
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
            {
                CheckpointFormat.Write(file, model, optimizer, ema, info);
                file.Flush(flushToDisk: true);
            }
            if (keep > 1 && File.Exists(full)) CheckpointRetention.KeepPrevious(full);
        });
        if (keep > 1) CheckpointRetention.Prune(full, keep);
    }

    /// <summary>Writes a checkpoint to a seekable, readable <paramref name="stream"/> (not atomic by itself).</summary>
    public static void Write(Stream stream, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema, CheckpointInfo info) =>
        CheckpointFormat.Write(stream, model, optimizer, ema, info);

    /// <summary>
    /// The newest checkpoint among <paramref name="path"/> and the older ones kept beside it (<c>keep</c> &gt; 1) that
    /// verifies completely; damaged ones are skipped and listed in <paramref name="skipped"/> with the reason.
    /// </summary>
    /// <returns>The path of the newest valid checkpoint, or null when there is none.</returns>
    public static string? FindNewestValid(string path, out IReadOnlyList<(string Path, string Reason)> skipped) =>
        CheckpointRetention.FindNewestValid(path, out skipped);

    /// <summary>Checks <paramref name="path"/> completely (checksum over every byte, structure, counters) without a
    /// model, and returns its counters.</summary>
    /// <exception cref="CheckpointFormatException">The file is damaged, truncated, foreign or from a future format.</exception>
    public static CheckpointInfo Verify(string path)
    {
        using var file = CheckpointFormat.Open(path);
        return Verify(file, path);
    }

    /// <summary><see cref="Verify(string)"/> on a seekable <paramref name="stream"/> holding a whole checkpoint;
    /// <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="CheckpointFormatException">The bytes are not a valid checkpoint.</exception>
    public static CheckpointInfo Verify(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return LegacyCheckpoint.Is(stream) ? LegacyCheckpoint.Info(stream, name) : CheckpointFormat.VerifiedHeader(stream, name).Info;
    }

    /// <summary>Reads the counters and configuration of the checkpoint at <paramref name="path"/> (verified as
    /// <see cref="Verify(string)"/> does).</summary>
    /// <exception cref="CheckpointFormatException">The file is not a valid checkpoint.</exception>
    public static CheckpointInfo ReadInfo(string path) => Verify(path);

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
        using var file = CheckpointFormat.Open(path);
        if (LegacyCheckpoint.Is(file)) return LegacyCheckpoint.Load(file, path, model, optimizer, ema);
        var (info, header) = CheckpointFormat.VerifiedHeader(file, path);
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
        if (header.Metadata.GetValueOrDefault(CheckpointFormat.StackMeta) is { } savedStack && savedStack != stack)
            throw new CheckpointFormatException(path, "optimizer", $"saved from the optimizer stack '{savedStack}', loading into '{stack}'");
        if (!tensors.TryGetValue(OptimizerKey, out var optimizerBytes) || optimizerBytes.dtype != ScalarType.Byte)
            throw new CheckpointFormatException(path, "optimizer", $"no '{OptimizerKey}' byte tensor");

        // Then applied: the optimizer first (the one part that can still refuse), rolled back if it does.
        RestoreOptimizer(path, optimizer, optimizerBytes.data<byte>().ToArray());
        ModelWeights.Write(model, () =>
        {
            using var _ = no_grad();
            foreach (var (name, target) in modelState) target.copy_(tensors[ModelPrefix + name]);
        });
        if (emaState is not null && emaSaved.Count > 0) ema!.LoadStateDict(emaSaved, info.EmaUpdates);
        return info;
    }

    private static void Fits(string path, string section, string name, Tensor target, Tensor saved)
    {
        if (!Shapes.Same(target, saved) || target.dtype != saved.dtype)
            throw new CheckpointFormatException(path, section,
                $"'{name}' is {saved.dtype} [{string.Join(", ", Shapes.Of(saved))}] in the file but {target.dtype} [{string.Join(", ", Shapes.Of(target))}] here");
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
}
