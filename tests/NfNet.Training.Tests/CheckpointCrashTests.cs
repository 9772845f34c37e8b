using System.Diagnostics;
using NfNet.Platform;
using NfNet.Training.Checkpoints;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace NfNet.Training.Tests;

/// <summary>
/// Crash safety tested for real: the demo trains and checkpoints after every step in a child process, which is killed
/// with SIGKILL at a random moment within the step after checkpoint k (so some kills land mid-write), several times,
/// and restarted with <c>--resume</c>. The kill waits for the checkpoint file, not for wall time, so it holds on a
/// loaded machine. After
/// every kill the newest checkpoint on disk verifies; the run resumed to the end equals an uninterrupted run bit for
/// bit (weights, EMA, optimizer state, counters); and no temporary file is left after the last, clean run.
/// </summary>
[Trait("Category", "Slow")]
public sealed class CheckpointCrashTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-crash-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Process Start(string outDir, bool resume)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Repository.Tool);
        info.ArgumentList.Add("train");
        foreach (var a in new[] { "--data", Slice.Directory, "--epochs", "3", "--limit", "1024", "--batch", "128", "--checkpoint-every", "1",
                     "--keep", "2", "--out", outDir })
            info.ArgumentList.Add(a);
        if (resume) info.ArgumentList.Add("--resume");
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.WriteLine($"[{Path.GetFileName(outDir)}] {e.Data}"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.WriteLine($"[{Path.GetFileName(outDir)}!] {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void RunToEnd(string outDir, bool resume)
    {
        using var process = Start(outDir, resume);
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(4)), "the demo did not finish in 4 minutes");
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    /// <summary>The step of the newest valid checkpoint at <paramref name="checkpoint"/> (or kept beside it), or -1.</summary>
    private static long NewestStep(string checkpoint) =>
        TrainingCheckpoint.FindNewestValid(checkpoint, out _) is { } newest ? TrainingCheckpoint.Verify(newest).Step : -1;

    /// <summary>
    /// Waits until a valid checkpoint of step <paramref name="target"/> or later is on disk, and returns the time between
    /// the checkpoints of steps target − 1 and target (the length of a step); null when the process ends first. The file
    /// is re-read only when its write time changes.
    /// </summary>
    private static TimeSpan? WaitForCheckpoint(string checkpoint, long target, Process process)
    {
        var clock = Stopwatch.StartNew();
        var lastWrite = DateTime.MinValue;
        TimeSpan? previousAt = null;
        while (clock.Elapsed < TimeSpan.FromMinutes(4))
        {
            if (process.HasExited) return null;
            var write = File.Exists(checkpoint) ? File.GetLastWriteTimeUtc(checkpoint) : DateTime.MinValue;
            if (write != lastWrite)
            {
                lastWrite = write;
                long step;
                try { step = TrainingCheckpoint.Verify(checkpoint).Step; }
                catch (Exception e) when (e is IOException or CheckpointFormatException) { continue; }   // being replaced
                if (step == target - 1) previousAt = clock.Elapsed;
                if (step >= target) return previousAt is { } at ? clock.Elapsed - at : TimeSpan.FromSeconds(1);
            }
            Thread.Sleep(5);
        }
        throw new TimeoutException($"no checkpoint of step {target} within 4 minutes");
    }

    [Fact]
    public void KilledAtRandomMomentsTheCheckpointSurvivesAndResumingContinuesBitExactly()
    {
        var reference = Path.Combine(_dir, "uninterrupted");
        RunToEnd(reference, resume: false);

        var crashed = Path.Combine(_dir, "crashed");
        var checkpoint = Path.Combine(crashed, "checkpoint.nfckpt");
        var random = new Random(20261201);
        var kills = 0;
        var killedAfterACheckpoint = 0;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var startStep = NewestStep(checkpoint);
            using var process = Start(crashed, resume: startStep >= 0);
            // The event to kill after: checkpoint k written (k a step or three past where this run starts), then a random
            // moment within the next step, measured as the time between checkpoints k-1 and k. A loaded machine only
            // makes the steps longer: the kill still lands inside one, never before the first checkpoint.
            var target = Math.Max(startStep, 0) + random.Next(2, 5);
            var stepTime = WaitForCheckpoint(checkpoint, target, process);
            if (stepTime is null) continue;   // the run finished first: the final run below has nothing left to do
            Thread.Sleep(TimeSpan.FromMilliseconds(random.NextDouble() * stepTime.Value.TotalMilliseconds));
            if (process.HasExited) continue;
            process.Kill(entireProcessTree: true);   // SIGKILL on Linux: no finally blocks, no flushes
            process.WaitForExit();
            kills++;
            var newest = TrainingCheckpoint.FindNewestValid(checkpoint, out var skipped);
            Assert.Empty(skipped);   // atomic writes: a kill mid-write never leaves a damaged checkpoint
            Assert.NotNull(newest);  // checkpoint k was there before the kill
            var loadedStep = TrainingCheckpoint.Verify(newest).Step;
            Assert.True(loadedStep >= target, $"the newest valid checkpoint is step {loadedStep}, but step {target} was written before the kill");
            killedAfterACheckpoint++;
            // It loads into the demo's model, optimizer stack and EMA, built as the demo builds them.
            using var model = new NfNet.Models.NFNet(FashionMnistRecipe.Model(32));
            using var trainer = new Trainer(model, 10, FashionMnistRecipe.Options(3, 128, 0));
            var info = trainer.Resume(newest);
            output.WriteLine($"killed after checkpoint {target}; newest checkpoint loads: epoch {info.Epoch}, step {info.Step}");
        }
        Assert.True(kills >= 2, $"only {kills} kills landed while training");
        Assert.True(killedAfterACheckpoint >= 1, "no kill landed after the first checkpoint: the resume path was not exercised");
        RunToEnd(crashed, resume: true);

        var expected = SafetensorsReader.Load(Path.Combine(reference, "checkpoint.nfckpt"));
        var actual = SafetensorsReader.Load(checkpoint);
        try
        {
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (name, t) in expected)
                Assert.True(t.equal(actual[name]).all().ReadBoolean(), $"{name} differs between the killed-and-resumed run and the uninterrupted one");
        }
        finally
        {
            foreach (var t in expected.Values.Concat(actual.Values)) t.Dispose();
        }
        Assert.Equal(TrainingCheckpoint.Verify(Path.Combine(reference, "checkpoint.nfckpt")), TrainingCheckpoint.Verify(checkpoint));
        Assert.Empty(Directory.GetFiles(crashed, ".*"));   // no temporary file left behind
    }
}
