using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace NfNet.Platform;

/// <summary>
/// Runs a loop of the library's own vector kernels on libtorch's OpenMP team, the threads libtorch's kernels already
/// use, instead of on .NET's thread pool.
/// </summary>
/// <remarks>
/// <para>Why: after each parallel region libtorch's OpenMP workers keep spinning for a while (libgomp's default wait
/// policy), so work handed to .NET worker threads between two libtorch calls competes with those spinning threads for
/// the same cores. Measured on the 2-core development machine: weight standardization split over .NET workers was
/// faster alone and 40–50 ms a step slower in an F0 training step (benchmarks/README.md). Work given to the OpenMP team
/// runs on the spinning workers themselves, as libtorch's own <c>at::parallel_for</c> does.</para>
/// <para>How: the OpenMP runtime libtorch loaded (found among the process's modules: libgomp in libtorch's Linux
/// packages; Intel's and LLVM's runtimes export the same GNU entry points) is called through its
/// <c>GOMP_parallel</c> entry point with an unmanaged-callable callback; each team thread takes one contiguous share
/// of the range. Without such a runtime (or inside a parallel region, or with one thread) the loop runs on the calling
/// thread. The switch <see cref="PlatformSwitches.DisableOpenMpTeam"/> turns the team off.</para>
/// </remarks>
internal static unsafe class OpenMpTeam
{
    /// <summary>A share <c>[start, end)</c> of a range.</summary>
    public delegate void RangeBody(long start, long end);

    private sealed record Runtime(string Path, nint Parallel, nint ThreadNum, nint NumThreads, nint InParallel);

    private sealed class Job(RangeBody body, long count)
    {
        public RangeBody Body { get; } = body;
        public long Count { get; } = count;
        public Exception? Error;
    }

    private static readonly Lazy<Runtime?> Found = new(Find);

    [ThreadStatic] private static bool t_disabled;

    /// <summary>Whether loops started on the calling thread may use the team (default true; tests and benchmarks compare
    /// both ways in one process, per thread so that concurrent callers are not affected; the switch decides for the
    /// whole process).</summary>
    internal static bool Enabled { get => !t_disabled; set => t_disabled = !value; }

    /// <summary>Whether <see cref="For"/> hands loops to the team: libtorch's OpenMP runtime was found, the switch is
    /// off and <see cref="Enabled"/> is true.</summary>
    public static bool IsAvailable => Enabled && Found.Value is not null;

    /// <summary>The path of the OpenMP runtime in use, or null when loops run on the calling thread.</summary>
    public static string? RuntimePath => Found.Value?.Path;

    /// <summary>Runs <paramref name="body"/> over <c>[0, count)</c>, split into one contiguous share per thread of
    /// libtorch's team (<paramref name="threads"/> at most), or whole on the calling thread when the team is not there,
    /// <paramref name="threads"/> ≤ 1 or <paramref name="count"/> ≤ 1. The first exception of any share is rethrown
    /// here once all shares have ended.</summary>
    public static void For(long count, int threads, RangeBody body)
    {
        var runtime = Found.Value;
        threads = (int)Math.Min(threads, count);
        if (runtime is null || !Enabled || threads <= 1 || ((delegate* unmanaged<int>)runtime.InParallel)() != 0)
        {
            body(0, count);
            return;
        }
        var job = new Job(body, count);
        var handle = GCHandle.Alloc(job);
        try
        {
            ((delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void>)runtime.Parallel)(
                &Share, GCHandle.ToIntPtr(handle), (uint)threads, 0);
        }
        finally
        {
            handle.Free();
        }
        if (job.Error is { } error) ExceptionDispatchInfo.Capture(error).Throw();
    }

    // One team thread's share. Runs on libtorch's OpenMP threads: nothing may escape into native code.
    [UnmanagedCallersOnly]
    private static void Share(nint data)
    {
        var job = (Job)GCHandle.FromIntPtr(data).Target!;
        try
        {
            var runtime = Found.Value!;
            long thread = ((delegate* unmanaged<int>)runtime.ThreadNum)();
            long team = ((delegate* unmanaged<int>)runtime.NumThreads)();
            job.Body(job.Count * thread / team, job.Count * (thread + 1) / team);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref job.Error, e, null);
        }
    }

    private static Runtime? Find()
    {
        if (PlatformSwitches.DisableOpenMpTeam.IsOn) return null;
        // libtorch (and with it its OpenMP runtime) must be loaded before the modules are listed: the answer is cached.
        _ = TorchSharp.torch.get_num_threads();
        try
        {
            foreach (ProcessModule module in Process.GetCurrentProcess().Modules)
            {
                var name = Path.GetFileName(module.FileName);
                if (!(name.StartsWith("libgomp", StringComparison.Ordinal) || name.StartsWith("libiomp5", StringComparison.Ordinal)
                      || name.StartsWith("libomp", StringComparison.Ordinal))) continue;
                if (!NativeLibrary.TryLoad(module.FileName, out var library)) continue;
                if (NativeLibrary.TryGetExport(library, "GOMP_parallel", out var parallel)
                    && NativeLibrary.TryGetExport(library, "omp_get_thread_num", out var threadNum)
                    && NativeLibrary.TryGetExport(library, "omp_get_num_threads", out var numThreads)
                    && NativeLibrary.TryGetExport(library, "omp_in_parallel", out var inParallel))
                    return new Runtime(module.FileName, parallel, threadNum, numThreads, inParallel);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or System.ComponentModel.Win32Exception)
        {
            // The process's modules cannot be listed here: run on the calling thread.
        }
        return null;
    }
}
