using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using NfNet.Benchmarks;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>The lockstep turn of the benchmarks' step timer (benchmarks/pytorch-reference/lockstep.sh): processes in a
/// ring of named pipes take their turns (one step, or <c>NFNET_BENCH_TURN_STEPS</c>) strictly one after another, and a
/// half-set environment is an error that names what is missing.</summary>
public sealed class LockstepTurnTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("nfnet-lockstep-test").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void NoVariablesMeansNoLockstep()
    {
        Assert.Null(LockstepTurn.FromEnvironment(_ => null));
        Assert.Null(LockstepTurn.FromEnvironment(_ => ""));
    }

    [Fact]
    public void SomeButNotAllVariablesIsAnErrorNamingTheOnesSet()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            LockstepTurn.FromEnvironment(name => name == "NFNET_BENCH_TURN_WAIT" ? "/tmp/x" : null));
        Assert.Contains("NFNET_BENCH_TURN_READY", error.Message);
        Assert.Contains("set: NFNET_BENCH_TURN_WAIT", error.Message);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("two")]
    public void StepsPerTurnMustBeAPositiveInteger(string value)
    {
        var ready = Fifo("ready");
        using var holder = HoldOpen(ready);
        var error = Assert.Throws<ArgumentException>(() => LockstepTurn.FromEnvironment(name =>
            name == "NFNET_BENCH_TURN_STEPS" ? value : name.StartsWith("NFNET_BENCH_TURN_", StringComparison.Ordinal) ? ready : null));
        Assert.Contains("NFNET_BENCH_TURN_STEPS", error.Message);
        Assert.Contains($"'{value}'", error.Message);
    }

    [Fact]
    public void StepsPerTurnWithoutThePipesIsAnError()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            LockstepTurn.FromEnvironment(name => name == "NFNET_BENCH_TURN_STEPS" ? "2" : null));
        Assert.Contains("only in lockstep", error.Message);
    }

    [Fact]
    public void AMissingPipeNamesItsVariableAndPath()
    {
        var ready = Fifo("ready");
        var missing = Path.Combine(_folder, "absent");
        var paths = new Dictionary<string, string?>
        {
            ["NFNET_BENCH_TURN_READY"] = ready, ["NFNET_BENCH_TURN_WAIT"] = missing, ["NFNET_BENCH_TURN_PASS"] = ready,
        };
        using var holder = HoldOpen(ready);
        var error = Assert.Throws<FileNotFoundException>(() => LockstepTurn.FromEnvironment(name => paths.GetValueOrDefault(name)));
        Assert.Contains("NFNET_BENCH_TURN_WAIT", error.Message);
        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public async Task ThreeTurnsInARingTakeTheirStepsStrictlyInOrder()
    {
        // One step a turn: the ring must interleave the places' steps 0 1 2 0 1 2 …
        var order = await RunRing(places: 3, steps: 4, stepsPerTurn: null);
        var expected = Enumerable.Range(0, 4).SelectMany(step => Enumerable.Range(0, 3).Select(place => (place, step)));
        Assert.Equal(expected, order);
    }

    [Fact]
    public async Task WithTwoStepsATurnEachPlaceTakesTwoInARowAndTheLastTurnMayBeShort()
    {
        var order = await RunRing(places: 2, steps: 5, stepsPerTurn: "2");
        (int, int)[] expected = [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (0, 3), (1, 2), (1, 3), (0, 4), (1, 4)];
        Assert.Equal(expected, order);
    }

    // The coordinator's part as lockstep.sh plays it: every pipe held open both ways, the ready signals counted, then
    // the first turn handed to place 0. Each place records its steps (BeforeStep / AfterStep as the step timer calls
    // them), in the order they ran.
    private async Task<(int Place, int Step)[]> RunRing(int places, int steps, string? stepsPerTurn)
    {
        var ready = Fifo("ready");
        var turns = Enumerable.Range(0, places).Select(i => Fifo($"turn-{i}")).ToArray();
        var held = turns.Prepend(ready).Select(HoldOpen).ToArray();
        try
        {
            var order = new ConcurrentQueue<(int Place, int Step)>();
            var workers = Enumerable.Range(0, places).Select(place => Task.Factory.StartNew(() =>
            {
                var paths = new Dictionary<string, string?>
                {
                    ["NFNET_BENCH_TURN_READY"] = ready,
                    ["NFNET_BENCH_TURN_WAIT"] = turns[place],
                    ["NFNET_BENCH_TURN_PASS"] = turns[(place + 1) % places],
                    ["NFNET_BENCH_TURN_STEPS"] = stepsPerTurn,
                };
                using var turn = LockstepTurn.FromEnvironment(name => paths.GetValueOrDefault(name))!;
                turn.Ready();
                for (var step = 0; step < steps; step++)
                {
                    turn.BeforeStep(step);
                    order.Enqueue((place, step));
                    // A step, of a different length at each place: without the turn the fast places would run ahead.
                    Thread.Sleep(place == 0 ? 30 : place == 1 ? 1 : 10);
                    turn.AfterStep(step, steps);
                }
            }, TaskCreationOptions.LongRunning)).ToArray();
            for (var i = 0; i < places; i++)
                Assert.Equal(1, held[0].ReadByte());
            held[1].WriteByte(1);
            held[1].Flush();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60)); // a stalled ring fails with a TimeoutException
            return order.ToArray();
        }
        finally
        {
            foreach (var pipe in held) pipe.Dispose();
        }
    }

    private string Fifo(string name)
    {
        var path = Path.Combine(_folder, name);
        Assert.True(MakeFifo(path, Convert.ToUInt32("600", 8)) == 0, $"mkfifo {path}: errno {Marshal.GetLastPInvokeError()}");
        return path;
    }

    // Open for reading and writing, as lockstep.sh holds every pipe: then no other open of it blocks.
    private static FileStream HoldOpen(string path) => new(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MakeFifo(string path, uint mode);
}
