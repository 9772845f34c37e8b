using System.Runtime.InteropServices;

namespace NfNet.Platform;

/// <summary>
/// How long libtorch's OpenMP threads spin before they sleep, for a program that may share its cores with another
/// busy process. libgomp's idle threads spin at their barriers (300,000 iterations by default) before sleeping: alone,
/// that saves a wake-up between operations; beside another busy process each spinning thread takes a core the other
/// process needs, and both collapse. A short spin keeps the first and avoids the second: measured on a 2-core AMD EPYC
/// (AVX2), an F0 float32 step at 128 px, batch 8 took 1,305 ms alone with a spin of 10,000 (1,441 ms with the default),
/// and 3.6 s with a second such process beside it (6.1–6.4 s with the default); <c>OMP_WAIT_POLICY=passive</c> cost
/// 18 % alone (benchmarks/README.md, "OpenMP's spin").
/// </summary>
/// <remarks>libgomp reads its settings once, when libtorch loads it, from the C environment (which .NET's
/// <c>Environment.SetEnvironmentVariable</c> does not change on Linux): so <see cref="LimitSpinning"/> must run before
/// the first tensor, and a user's own <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c> always wins. Linux only (libtorch's
/// Linux packages bring libgomp); elsewhere it does nothing.</remarks>
public static class OpenMpWaiting
{
    /// <summary>The spin the <c>nfnet</c> tool sets for itself.</summary>
    public const int ToolSpinCount = 10_000;

    /// <summary>
    /// Sets <c>GOMP_SPINCOUNT</c> to <paramref name="spinCount"/> for this process, unless the environment already says
    /// how OpenMP threads wait or libgomp is already loaded. Returns what it did, in a sentence.
    /// </summary>
    /// <param name="spinCount">Iterations an idle OpenMP thread spins before it sleeps.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="spinCount"/> is negative.</exception>
    public static string LimitSpinning(int spinCount = ToolSpinCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spinCount);
        if (!OperatingSystem.IsLinux()) return "OpenMP waiting: left as it is (not Linux)";
        foreach (var name in new[] { "OMP_WAIT_POLICY", "GOMP_SPINCOUNT" })
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value) return $"OpenMP waiting: {name}={value} from the environment";
        if (File.ReadLines("/proc/self/maps").Any(l => l.Contains("libgomp", StringComparison.Ordinal)))
            return "OpenMP waiting: left as it is (libgomp is already loaded)";
        var text = spinCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (SetEnvironment("GOMP_SPINCOUNT", text, 0) != 0) return "OpenMP waiting: left as it is (setenv failed)";
        Environment.SetEnvironmentVariable("GOMP_SPINCOUNT", text); // the managed view agrees, and child processes inherit it
        return $"OpenMP waiting: idle threads spin {text} times, then sleep (GOMP_SPINCOUNT; set the variable to choose)";
    }

    [DllImport("libc.so.6", EntryPoint = "setenv")]
    private static extern int SetEnvironment([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
