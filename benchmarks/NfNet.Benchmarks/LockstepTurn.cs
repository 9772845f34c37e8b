namespace NfNet.Benchmarks;

/// <summary>
/// A place in a ring of processes that take training steps in turn (<c>benchmarks/pytorch-reference/lockstep.sh</c>):
/// one byte through named pipes is the turn. Each process signals once that its setup is done, then before every turn
/// waits for the byte on its own pipe and after it writes the byte to the next process's pipe. A turn is one step, or
/// <c>NFNET_BENCH_TURN_STEPS</c> steps back to back (the later ones start with the caches as the process's own step left
/// them, as in a training loop, where the first starts after another process's step).
/// </summary>
/// <remarks>Why: this machine's speed moves by up to 2× within minutes (benchmarks/README.md), so processes run one
/// after another can land in different states; steps alternated one by one see the same state, and the ratio of each
/// pair of neighbouring steps cancels the drift. The coordinating script keeps every pipe open for reading and writing,
/// so opening one here never blocks.</remarks>
internal sealed class LockstepTurn : IDisposable
{
    private readonly FileStream _ready;
    private readonly FileStream _wait;
    private readonly FileStream _pass;

    private static readonly string[] Variables = { "NFNET_BENCH_TURN_READY", "NFNET_BENCH_TURN_WAIT", "NFNET_BENCH_TURN_PASS" };
    private const string StepsVariable = "NFNET_BENCH_TURN_STEPS";

    /// <summary>Steps a process takes in one turn (<c>NFNET_BENCH_TURN_STEPS</c>, default 1).</summary>
    public int StepsPerTurn { get; }

    private LockstepTurn(string ready, string wait, string pass, int stepsPerTurn)
    {
        StepsPerTurn = stepsPerTurn;
        _ready = Open(ready, Variables[0], FileAccess.Write);
        try
        {
            _wait = Open(wait, Variables[1], FileAccess.Read);
            _pass = Open(pass, Variables[2], FileAccess.Write);
        }
        catch
        {
            _ready.Dispose();
            _wait?.Dispose();
            throw;
        }
    }

    /// <summary>The turn named by <c>NFNET_BENCH_TURN_READY</c>, <c>_WAIT</c> and <c>_PASS</c> (paths of named pipes) and
    /// <c>NFNET_BENCH_TURN_STEPS</c> (steps a turn, a positive integer; default 1); <c>null</c> when none is set. Setting
    /// some of the pipes but not all, or the steps without the pipes, is an error.</summary>
    public static LockstepTurn? FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary><see cref="FromEnvironment()"/> with the variables read through <paramref name="variables"/> (tests).</summary>
    internal static LockstepTurn? FromEnvironment(Func<string, string?> variables)
    {
        var paths = Variables.Select(variables).ToArray();
        var stepsText = variables(StepsVariable);
        if (paths.All(string.IsNullOrEmpty))
            return string.IsNullOrEmpty(stepsText) ? null
                : throw new ArgumentException($"{StepsVariable} applies only in lockstep, with {string.Join(", ", Variables)} set");
        if (paths.Any(string.IsNullOrEmpty))
            throw new ArgumentException($"lockstep needs all of {string.Join(", ", Variables)}; set: {string.Join(", ", Variables.Where((_, i) => !string.IsNullOrEmpty(paths[i])))}");
        var stepsPerTurn = 1;
        if (!string.IsNullOrEmpty(stepsText) && (!int.TryParse(stepsText, out stepsPerTurn) || stepsPerTurn < 1))
            throw new ArgumentException($"{StepsVariable} must be a positive integer, got '{stepsText}'");
        return new LockstepTurn(paths[0]!, paths[1]!, paths[2]!, stepsPerTurn);
    }

    /// <summary>Tells the coordinator that this process's setup is done.</summary>
    public void Ready() => Write(_ready);

    /// <summary>Before step <paramref name="step"/> (from 0): when the step starts a turn, blocks until the previous
    /// process in the ring passes the turn.</summary>
    public void BeforeStep(int step)
    {
        if (step % StepsPerTurn == 0 && _wait.ReadByte() < 0)
            throw new IOException($"lockstep: the turn pipe '{_wait.Name}' closed before the turn came (the coordinator ended)");
    }

    /// <summary>After step <paramref name="step"/> of <paramref name="steps"/>: when the step ends a turn (or is the last),
    /// hands the turn to the next process in the ring.</summary>
    public void AfterStep(int step, int steps)
    {
        if ((step + 1) % StepsPerTurn == 0 || step == steps - 1) Write(_pass);
    }

    public void Dispose()
    {
        _ready.Dispose();
        _wait.Dispose();
        _pass.Dispose();
    }

    private static void Write(FileStream pipe)
    {
        pipe.WriteByte(1);
        pipe.Flush();
    }

    private static FileStream Open(string path, string variable, FileAccess access) =>
        File.Exists(path) ? new FileStream(path, FileMode.Open, access, FileShare.ReadWrite, bufferSize: 0)
            : throw new FileNotFoundException($"{variable}: no named pipe at '{path}'", path);
}
