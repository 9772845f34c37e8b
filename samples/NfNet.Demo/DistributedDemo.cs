using System.Diagnostics;
using NfNet.Distributed;
using NfNet.Training;

namespace NfNet.Demo;

/// <summary>The demo's <c>--distributed</c> mode: joins the ranks mpirun started, lets only rank 0 print, and stops
/// every rank when one fails.</summary>
internal static class DistributedDemo
{
    /// <summary>The communicator for this launch (a world of one without mpirun); other ranks than 0 print nothing to
    /// standard output (errors still go to standard error, prefixed with the rank).</summary>
    public static ICommunicator Start()
    {
        var comm = Communicator.FromEnvironment();
        if (comm.Rank != 0) Console.SetOut(TextWriter.Null);
        Console.WriteLine($"data-parallel on {comm.WorldSize} rank(s) ({comm.Backend})");
        return comm;
    }

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

    /// <summary>Reports a failure; in a run of several ranks, stops all of them (MPI_Abort) with <paramref name="code"/>.</summary>
    public static int Fail(ICommunicator? comm, string message, int code)
    {
        var prefix = comm is { WorldSize: > 1 } ? $"rank {comm.Rank} of {comm.WorldSize}: " : "";
        Console.Error.WriteLine(prefix + message);
        if (comm is { WorldSize: > 1 }) comm.Abort(code);
        return code;
    }
}
