using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using NfNet.Optim;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Checkpoints;

/// <summary>
/// Format 1 (NfNet.NET before the checksum): a BinaryWriter string magic, JSON counters, TorchSharp's module format, the
/// optimizer state and the EMA as float64 values. Still read, with snapshots, so that a failure leaves everything as it was.
/// </summary>
internal static class LegacyCheckpoint
{
    private const string Magic = "NfNet.TrainingCheckpoint/1";

    public static bool Is(Stream file)
    {
        file.Position = 0;
        var magic = Encoding.UTF8.GetBytes(Magic);
        if (file.Length < magic.Length + 1 || file.ReadByte() != magic.Length) return false;
        var bytes = new byte[magic.Length];
        file.ReadExactly(bytes);
        file.Position = 0;
        return bytes.AsSpan().SequenceEqual(magic);
    }

    public static CheckpointInfo Info(Stream file, string path)
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

    public static CheckpointInfo Load(FileStream file, string path, nn.Module model, optim.Optimizer optimizer, ExponentialMovingAverage? ema)
    {
        var info = Info(file, path);
        // Copies that outlive any scope: this runs outside one (DetachedCopy says why that matters).
        var modelSnapshot = model.state_dict().ToDictionary(kv => kv.Key, kv => DetachedCopy.Of(kv.Value));
        using var optimizerSnapshot = new MemoryStream();
        using (var writer = new BinaryWriter(optimizerSnapshot, Encoding.UTF8, leaveOpen: true)) OptimizerState.Save(optimizer, writer);
        var emaSnapshot = ema?.StateDict().ToDictionary(kv => kv.Key, kv => DetachedCopy.Of(kv.Value));
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
                    loaded[name] = tensor(values).reshape(Shapes.Of(like));
                }
                ema.LoadStateDict(loaded, info.EmaUpdates);
            }
            return info;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ModelWeights.Write(model, () =>
            {
                using var _ = no_grad();
                foreach (var (name, t) in model.state_dict()) t.copy_(modelSnapshot[name]);
            });
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
