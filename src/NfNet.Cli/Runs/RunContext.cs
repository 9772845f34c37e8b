using System.Diagnostics;
using NfNet.Distributed;
using NfNet.Training;
using NfNet.Training.Checkpoints;

namespace NfNet.Cli.Runs;

/// <summary>What every training run shares: joining the ranks mpirun started (only rank 0 prints), resuming from the
/// newest valid checkpoint, and stopping every rank when one fails.</summary>
internal static class RunContext
{
    /// <summary>The communicator for this launch (a world of one without mpirun); ranks other than 0 print nothing to
    /// standard output (errors still go to standard error, prefixed with the rank).</summary>
    public static ICommunicator? Join(bool distributed)
    {
        if (!distributed) return null;
        var comm = Communicator.FromEnvironment();
        if (comm.Rank != 0) Console.SetOut(TextWriter.Null);
        Console.WriteLine($"data-parallel on {comm.WorldSize} rank(s) ({comm.Backend})");
        Current = comm;
        return comm;
    }

    /// <summary>The communicator of the running command (for the error handler).</summary>
    public static ICommunicator? Current { get; private set; }

    /// <summary>Says how the batch is split, and arms the fault injection the distributed tests use.</summary>
    public static void Describe(Trainer trainer)
    {
        Console.WriteLine($"  global batch {trainer.Options.BatchSize} = {trainer.WorldSize} × {trainer.BatchPerRank} per rank");
        // NFNET_FAULT_KILL_RANK_AT_STEP=R:S kills rank R (SIGKILL, as a crashed machine) after step S: for the tests of
        // what the other ranks do then.
        if (Environment.GetEnvironmentVariable("NFNET_FAULT_KILL_RANK_AT_STEP") is { } fault
            && fault.Split(':') is [var r, var s] && int.Parse(r) == trainer.Rank)
        {
            var step = long.Parse(s);
            trainer.StepCompleted += p =>
            {
                if (p.Step == step) Process.GetCurrentProcess().Kill();
            };
        }
    }

    /// <summary>Restores <paramref name="trainer"/> from the newest valid checkpoint and says from where.</summary>
    /// <exception cref="CliException">There is no valid checkpoint.</exception>
    public static CheckpointInfo Resume(Trainer trainer, string checkpointPath)
    {
        var resumed = trainer.ResumeNewest(checkpointPath, out var skipped);
        foreach (var (_, reason) in skipped) Console.Error.WriteLine($"--resume: skipped a damaged checkpoint: {reason}");
        if (resumed is not { } found)
            throw new CliException($"--resume: no valid checkpoint at {checkpointPath} (run without --resume first, with the same --out)");
        Console.WriteLine($"resumed from {found.Path}: epoch {found.Info.Epoch}, step {found.Info.Step}");
        return found.Info;
    }

    /// <summary>In a run of several ranks, stops all of them (MPI_Abort) with <paramref name="code"/>.</summary>
    public static void AbortOthers(int code)
    {
        if (Current is { WorldSize: > 1 } comm) comm.Abort(code);
    }

    /// <summary>The rank prefix for error lines ("" in one process).</summary>
    public static string Prefix => Current is { WorldSize: > 1 } comm ? $"rank {comm.Rank} of {comm.WorldSize}: " : "";
}
