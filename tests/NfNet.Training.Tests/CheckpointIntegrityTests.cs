using System.Text;
using System.Text.Json;
using NfNet.IO;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
using NfNet.Training.Checkpoints;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>
/// Checkpoints that cannot lie: every damaged copy of a real checkpoint is refused with one typed exception and leaves
/// the model, optimizer and EMA untouched; a flipped bit anywhere is detected; save → load is bit-identical in every
/// precision; the tensors are plain safetensors under the documented keys; format 1 files still load; older checkpoints
/// are kept and the newest valid one is found.
/// </summary>
public sealed class CheckpointIntegrityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly NFNetConfig Small = new()
    {
        Name = "ckpt-test", Widths = new[] { 16, 32 }, Depths = new[] { 1, 1 }, StemWidth = 16, GroupWidth = 8,
        InChannels = 1, NumClasses = 10, DropRate = 0, StochasticDepthRate = 0,
    };

    /// <summary>A model, its AGC-SGD stack (inside SAM when asked) and an EMA after two real steps, so that momentum
    /// buffers, EMA shadows and the decorators' counters all hold non-trivial values.</summary>
    private sealed class Run : IDisposable
    {
        public Run(int seed, ScalarType dtype = ScalarType.Float32, bool mixed = false, bool sam = false)
        {
            manual_seed(seed);
            Model = new NFNet(Small);
            if (dtype != ScalarType.Float32) Model.to(dtype);
            var agc = NFNetRecipe.CreateSgdAgc(Model, 0.1, clipSkipInitGain: false);
            Optimizer = sam ? new SharpnessAwareMinimization(agc, 0.05) : agc;
            Ema = new ExponentialMovingAverage(Model, 0.9);
        }

        public NFNet Model { get; }
        public optim.Optimizer Optimizer { get; }
        public ExponentialMovingAverage Ema { get; }

        public void Steps(int count, bool mixed = false)
        {
            for (var i = 0; i < count; i++)
            {
                using var scope = NewDisposeScope();
                manual_seed(100 + i);
                var x = randn(4, 1, 16, 16).to(mixed ? ScalarType.BFloat16 : Model.parameters().First().dtype);
                var y = randint(0, 10, new long[] { 4 });
                Tensor Closure()
                {
                    var loss = nn.functional.cross_entropy(Model.forward(x).to(ScalarType.Float32), y);
                    loss.backward();
                    return loss;
                }
                Optimizer.zero_grad();
                if (Optimizer is SharpnessAwareMinimization) Optimizer.step(Closure);
                else { Closure(); Optimizer.step(); }
                Ema.Update(Model);
            }
        }

        public CheckpointInfo Info => new(1, 2, Ema.UpdateCount, "ckpt-test", JsonSerializer.Serialize(Small), 7);

        public Dictionary<string, Tensor> Snapshot()
        {
            var result = Model.state_dict().ToDictionary(kv => "model." + kv.Key, kv => kv.Value.detach().clone());
            foreach (var (k, v) in Ema.StateDict()) result["ema." + k] = v.detach().clone();
            using var buffer = new MemoryStream();
            using (var w = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) OptimizerState.Save(Optimizer, w);
            result["optimizer"] = tensor(buffer.ToArray());
            return result;
        }

        public void Dispose()
        {
            Ema.Dispose();
            Model.Dispose();
        }
    }

    private static void AssertSame(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual, string why)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, v) in expected)
            Assert.True(v.shape.SequenceEqual(actual[k].shape) && v.dtype == actual[k].dtype && v.equal(actual[k]).all().ReadBoolean(), $"{why}: {k} differs");
    }

    private string SaveGood(Run run)
    {
        var path = Path.Combine(_dir, "good.nfckpt");
        TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Ema, run.Info);
        return path;
    }

    /// <summary>The seeded corpus of damaged copies: the kinds a crash, a partial copy, a bit flip or a careless tool make.</summary>
    internal static IEnumerable<(string Kind, byte[] Bytes)> DamagedCopies(byte[] good, int seed)
    {
        var random = new Random(seed);
        byte[] Flip(int bits, int limit)
        {
            var copy = (byte[])good.Clone();
            for (var b = 0; b < bits; b++)
            {
                var at = random.Next(Math.Min(limit, copy.Length));
                copy[at] ^= (byte)(1 << random.Next(8));
            }
            return copy;
        }
        yield return ("empty file", Array.Empty<byte>());
        for (var i = 0; i < 25; i++) yield return ($"truncated #{i}", good[..random.Next(good.Length)]);
        for (var i = 0; i < 25; i++) yield return ($"bits flipped in the first 400 bytes #{i}", Flip(1 + random.Next(3), 400));
        for (var i = 0; i < 25; i++) yield return ($"bits flipped anywhere #{i}", Flip(1 + random.Next(3), good.Length));
        for (var i = 0; i < 20; i++)
        {
            var garbage = new byte[1 + random.Next(2000)];
            random.NextBytes(garbage);
            yield return ($"garbage appended #{i}", good.Concat(garbage).ToArray());
        }
        var foreign = new byte[good.Length];
        random.NextBytes(foreign);
        yield return ("random bytes", foreign);
        var future = Encoding.UTF8.GetString(good).Contains("\"nfnet.checkpoint\":\"2\"") ? good : throw new InvalidOperationException("format entry not found");
        var bumped = Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(future).Replace("\"nfnet.checkpoint\":\"2\"", "\"nfnet.checkpoint\":\"3\""));
        yield return ("a future format (checksum not updated)", bumped);
        yield return ("the last 8 bytes zeroed", good[..^8].Concat(new byte[8]).ToArray());
        yield return ("truncated to the header", good[..64]);
    }

    [Fact]
    public void EveryDamagedCopyIsATypedRejectionAndLoadsNothing()
    {
        using var run = new Run(1);
        run.Steps(2);
        var good = File.ReadAllBytes(SaveGood(run));
        var corpus = DamagedCopies(good, seed: 20261201).ToArray();
        Assert.Equal(100, corpus.Length);
        using var target = new Run(2);
        target.Steps(1);
        var before = target.Snapshot();
        var path = Path.Combine(_dir, "damaged.nfckpt");
        var accepted = new List<string>();
        foreach (var (kind, bytes) in corpus)
        {
            File.WriteAllBytes(path, bytes);
            try
            {
                TrainingCheckpoint.Load(path, target.Model, target.Optimizer, target.Ema);
                accepted.Add(kind);
            }
            catch (CheckpointFormatException e)
            {
                Assert.Equal(path, e.FilePath);
                Assert.Contains(path, e.Message);
            }
            AssertSame(before, target.Snapshot(), $"after '{kind}'");
        }
        Assert.Empty(accepted);
    }

    [Fact]
    public void AFlippedBitAnywhereInTheFileIsDetected()
    {
        using var run = new Run(3);
        run.Steps(2);
        var good = File.ReadAllBytes(SaveGood(run));
        Assert.Equal(run.Info.Step, TrainingCheckpoint.Verify(new MemoryStream(good), "good").Step);
        var undetected = new List<int>();
        for (var at = 0; at < good.Length; at++)
        {
            var bit = (byte)(1 << (at % 8));
            good[at] ^= bit;
            try
            {
                TrainingCheckpoint.Verify(new MemoryStream(good), "flipped");
                undetected.Add(at);
            }
            catch (CheckpointFormatException) { }
            good[at] ^= bit;
        }
        Assert.Empty(undetected);
    }

    [Theory]
    [InlineData(ScalarType.Float32, false, false)]
    [InlineData(ScalarType.BFloat16, false, false)]
    [InlineData(ScalarType.Float32, true, false)]   // mixed bf16: float32 weights, bf16 activations
    [InlineData(ScalarType.Float32, false, true)]   // SAM around AGC: every decorator's state
    public void SaveThenLoadIsBitIdentical(ScalarType dtype, bool mixed, bool sam)
    {
        using var run = new Run(4, dtype, sam: sam);
        run.Steps(2, mixed);
        var path = SaveGood(run);
        var expected = run.Snapshot();
        using var fresh = new Run(5, dtype, sam: sam);
        var info = TrainingCheckpoint.Load(path, fresh.Model, fresh.Optimizer, fresh.Ema);
        Assert.Equal(run.Info, info);
        AssertSame(expected, fresh.Snapshot(), "after the round trip");
        Assert.Equal(run.Ema.UpdateCount, fresh.Ema.UpdateCount);
        // And the next steps are the same steps.
        run.Steps(1, mixed);
        fresh.Steps(1, mixed);
        AssertSame(run.Snapshot(), fresh.Snapshot(), "one step after the round trip");
    }

    [Fact]
    public void TheTensorsAreSafetensorsUnderTheDocumentedKeys()
    {
        using var run = new Run(6);
        run.Steps(2);
        var path = SaveGood(run);
        var tensors = SafetensorsReader.Load(path);
        var header = SafetensorsReader.ReadHeader(path);
        try
        {
            foreach (var (name, t) in run.Model.state_dict()) Assert.True(t.equal(tensors["model." + name]).all().ReadBoolean(), name);
            foreach (var (name, t) in run.Ema.StateDict()) Assert.True(t.equal(tensors["ema." + name]).all().ReadBoolean(), name);
            Assert.Equal(ScalarType.Byte, tensors["optimizer.state"].dtype);
            Assert.Equal(8, tensors["~checksum"].numel());
            Assert.Equal("2", header.Metadata["nfnet.checkpoint"]);
            Assert.Equal("AdaptiveGradientClipping > SGD", header.Metadata["nfnet.optimizer_stack"]);
            Assert.Equal(run.Info, JsonSerializer.Deserialize<CheckpointInfo>(header.Metadata["nfnet.info"]));
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void AnotherModelOrOptimizerStackIsRefusedNamingThePart()
    {
        using var run = new Run(7);
        run.Steps(1);
        var path = SaveGood(run);
        using var wide = new NFNet(Small with { Widths = new[] { 16, 48 } });
        var agc = NFNetRecipe.CreateSgdAgc(wide, 0.1);
        var e = Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(path, wide, agc, null));
        Assert.Equal("model", e.Section);
        using var same = new Run(8, sam: true);
        var before = same.Snapshot();
        var stack = Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(path, same.Model, same.Optimizer, same.Ema));
        Assert.Equal("optimizer", stack.Section);
        Assert.Contains("SharpnessAwareMinimization", stack.Message);
        AssertSame(before, same.Snapshot(), "after the refused stack");
    }

    [Fact]
    public void FormatOneCheckpointsStillLoadAndDamagedOnesLoadNothing()
    {
        using var run = new Run(9);
        run.Steps(2);
        // Format 1 as NfNet.NET wrote it before the checksum: magic, JSON counters, TorchSharp's module format, the
        // optimizer state, then the EMA as float64 values.
        var path = Path.Combine(_dir, "v1.nfckpt");
        using (var file = File.Create(path))
        using (var w = new BinaryWriter(file))
        {
            w.Write("NfNet.TrainingCheckpoint/1");
            w.Write(JsonSerializer.Serialize(run.Info));
            run.Model.save(w);
            OptimizerState.Save(run.Optimizer, w);
            w.Write(true);
            var state = run.Ema.StateDict();
            w.Write(state.Count);
            foreach (var (name, t) in state)
            {
                w.Write(name);
                var values = t.to(ScalarType.Float64).data<double>().ToArray();
                w.Write(values.Length);
                foreach (var v in values) w.Write(v);
            }
        }
        var expected = run.Snapshot();
        using var fresh = new Run(10);
        Assert.Equal(run.Info, TrainingCheckpoint.Load(path, fresh.Model, fresh.Optimizer, fresh.Ema));
        AssertSame(expected, fresh.Snapshot(), "format 1 round trip");

        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]); // the EMA's tail is missing
        using var target = new Run(11);
        var before = target.Snapshot();
        Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.Load(path, target.Model, target.Optimizer, target.Ema));
        AssertSame(before, target.Snapshot(), "after a damaged format 1 file");
    }

    [Fact]
    public void OlderCheckpointsAreKeptAndTheNewestValidOneIsFound()
    {
        using var run = new Run(12);
        var path = Path.Combine(_dir, "ckpt.nfckpt");
        for (var step = 1; step <= 4; step++)
        {
            run.Steps(1);
            TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Ema, run.Info with { Step = step }, keep: 3);
        }
        var files = Directory.GetFiles(_dir).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[] { "ckpt.nfckpt", "ckpt.step-0000000002.nfckpt", "ckpt.step-0000000003.nfckpt" }, files);
        Assert.Equal(path, TrainingCheckpoint.FindNewestValid(path, out var none));
        Assert.Empty(none);

        // The newest is damaged (a partial copy): the next newest is used, and the damaged one is reported.
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 3)]);
        var found = TrainingCheckpoint.FindNewestValid(path, out var skipped);
        Assert.Equal(Path.Combine(_dir, "ckpt.step-0000000003.nfckpt"), found);
        Assert.Equal(path, Assert.Single(skipped).Path);
        Assert.Equal(3, TrainingCheckpoint.Verify(found!).Step);
    }

    [Fact]
    public void AWriteThatFailsMidwayLeavesThePreviousFileAndNoTemporary()
    {
        var path = Path.Combine(_dir, "metrics.csv");
        AtomicFile.WriteAllLines(path, new[] { "old" });
        // A full disk, injected: the write fails after some bytes, as ENOSPC does.
        var error = Assert.Throws<IOException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[4096]);
            throw new IOException("No space left on device (injected)");
        }));
        Assert.Contains("No space left", error.Message);
        Assert.Equal(new[] { "old" }, File.ReadAllLines(path));
        Assert.Equal(new[] { "metrics.csv" }, Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void TemporariesOfAKilledWriterAreRemovedAndThoseOfALiveOneKept()
    {
        var path = Path.Combine(_dir, "ckpt.nfckpt");
        var dead = Path.Combine(_dir, ".ckpt.tmp-2147483646-0123456789abcdef.nfckpt"); // no such process
        var live = Path.Combine(_dir, $".ckpt.tmp-{Environment.ProcessId}-0123456789abcdef.nfckpt");
        File.WriteAllText(dead, "half a checkpoint");
        File.WriteAllText(live, "a write in progress");
        AtomicFile.RemoveStaleTemporaries(path);
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live));
    }
}
