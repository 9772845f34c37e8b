using System.Text.Json;
using NfNet.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Checkpoints;

/// <summary>Counters and configuration stored with a checkpoint.</summary>
/// <param name="Epoch">Completed epochs.</param>
/// <param name="Step">Optimizer steps taken (the scheduler's position).</param>
/// <param name="EmaUpdates">EMA updates made.</param>
/// <param name="ModelName">The model's name.</param>
/// <param name="ModelConfig">The NFNet configuration as JSON (rebuild with <see cref="TrainingCheckpoint.ReadConfig"/>), or null.</param>
/// <param name="Seed">The run's seed: with <see cref="Step"/> it determines all later randomness.</param>
public sealed record CheckpointInfo(int Epoch, long Step, long EmaUpdates, string ModelName, string? ModelConfig = null, int Seed = 0);

/// <summary>
/// A training checkpoint in one file: a header, the counters (JSON), the model (TorchSharp's module format), the
/// optimizer state through its decorators (<see cref="OptimizerState"/>) and the EMA weights. Written atomically: to a
/// temporary file in the same directory, flushed to disk, then renamed over the old one, so a crash mid-write leaves
/// the previous checkpoint intact. The scheduler position is the step counter; the random state is derived from the
/// seed and the step, so a resumed run continues exactly.
/// </summary>
public static class TrainingCheckpoint
{
    private const string Magic = "NfNet.TrainingCheckpoint/1";

    /// <summary>Writes a checkpoint to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema, CheckpointInfo info)
    {
        ArgumentNullException.ThrowIfNull(path);
        AtomicFile.Write(path, stream => Write(stream, model, optimizer, ema, info));
    }

    /// <summary>Writes a checkpoint to a stream (not atomic by itself).</summary>
    public static void Write(Stream stream, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema, CheckpointInfo info)
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(JsonSerializer.Serialize(info));
        model.save(writer);
        OptimizerState.Save(optimizer, writer);
        writer.Write(ema is not null);
        if (ema is not null)
        {
            var state = ema.StateDict();
            writer.Write(state.Count);
            foreach (var (name, t) in state)
            {
                writer.Write(name);
                var values = t.to(ScalarType.Float64).cpu().data<double>().ToArray();
                writer.Write(values.Length);
                foreach (var v in values) writer.Write(v);
            }
        }
        writer.Flush();
    }

    /// <summary>Reads only the counters and configuration of the checkpoint at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a checkpoint.</exception>
    public static CheckpointInfo ReadInfo(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        try
        {
            if (reader.ReadString() != Magic) throw new InvalidDataException($"'{path}' is not an NfNet training checkpoint");
            return JsonSerializer.Deserialize<CheckpointInfo>(reader.ReadString()) ?? throw new InvalidDataException($"'{path}': empty counters");
        }
        catch (EndOfStreamException e) { throw new InvalidDataException($"'{path}' is truncated", e); }
    }

    /// <summary>The NFNet configuration stored in the checkpoint at <paramref name="path"/>, to rebuild the model before
    /// <see cref="Load"/>; null when none was stored.</summary>
    public static NfNet.Models.NFNetConfig? ReadConfig(string path) =>
        ReadInfo(path).ModelConfig is { } json ? JsonSerializer.Deserialize<NfNet.Models.NFNetConfig>(json) : null;

    /// <summary>Restores a checkpoint into a model, optimizer and EMA built the same way as when it was saved.</summary>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, is truncated, or does not match.</exception>
    public static CheckpointInfo Load(string path, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema)
    {
        using var file = File.OpenRead(path);
        using var reader = new BinaryReader(file);
        try
        {
            if (reader.ReadString() != Magic) throw new InvalidDataException($"'{path}' is not an NfNet training checkpoint");
            var info = JsonSerializer.Deserialize<CheckpointInfo>(reader.ReadString())
                ?? throw new InvalidDataException($"'{path}': empty checkpoint counters");
            model.load(reader);
            OptimizerState.Load(optimizer, reader);
            var hasEma = reader.ReadBoolean();
            if (hasEma && ema is not null)
            {
                var count = reader.ReadInt32();
                var current = ema.StateDict();
                var loaded = new Dictionary<string, Tensor>();
                using var scope = NewDisposeScope();
                for (var i = 0; i < count; i++)
                {
                    var name = reader.ReadString();
                    var n = reader.ReadInt32();
                    var values = new double[n];
                    for (var j = 0; j < n; j++) values[j] = reader.ReadDouble();
                    if (!current.TryGetValue(name, out var like)) throw new InvalidDataException($"'{path}': EMA has unknown tensor '{name}'");
                    loaded[name] = tensor(values).reshape(like.shape);
                }
                ema.LoadStateDict(loaded, info.EmaUpdates);
            }
            return info;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"'{path}' is truncated", e);
        }
    }
}
