using System.Runtime.InteropServices;

namespace NfNet.Platform;

/// <summary>
/// Tunes the C runtime's allocator (glibc <c>malloc</c>, which libtorch's CPU tensors use) so that freed tensor memory is
/// reused instead of handed back to the kernel and faulted in again on the next step.
/// </summary>
/// <remarks>
/// <para>By default glibc serves every allocation above a threshold (128 KiB, adapting up to at most 32 MiB) with a
/// fresh <c>mmap</c>, unmaps it on free, and trims the heap top above a similar threshold. A training step allocates and
/// frees hundreds of megabyte-sized activations, gradients and standardized weights, so every step page-faults all of
/// them in again, and the kernel zeroes each page. On the 2-core AVX-512 virtual machine of <c>benchmarks/README.md</c>
/// page faults are expensive (about 6 µs each): a float32 3×3 convolution (batch 8, 256 → 256 channels, 64×64, a
/// 33.5 MB output, so always a fresh mapping) ran at 142 GFLOP/s with glibc's defaults and at 380 GFLOP/s after
/// <see cref="TuneForTensors"/>, and a float32 F0 training step at the paper's 192 px, batch 32 took 11.4 s with 312,000
/// page faults per step, against 6.6 s and about 350 faults tuned. Small steps (F0 at 128 px, batch 8) and bf16 steps,
/// whose blocks stay under glibc's adaptive threshold, fault little either way and measured the same.</para>
/// <para>What it sets: no <c>mmap</c> for allocations (<c>M_MMAP_MAX = 0</c>: every block comes from an arena, so even a
/// block above glibc's 32 MiB mmap-threshold limit is reused) and no trimming of the heap top (<c>M_TRIM_THRESHOLD</c>,
/// or a threshold of your choice). The cost is resident memory: the process keeps its high-water mark, and freed blocks
/// stay for the next step to reuse, which is what a training loop wants; call <see cref="ReleaseFreeMemory"/> to hand
/// them back. The setting is process-wide and lasts until the process ends (or until
/// <c>mallopt</c> is called again). It does nothing on Windows, macOS or a non-glibc Linux (musl), and nothing for CUDA
/// memory, which libtorch caches itself.</para>
/// <para>The same without code: start the process with <c>MALLOC_MMAP_MAX_=0</c> and <c>MALLOC_TRIM_THRESHOLD_</c> set to a
/// size larger than the process will ever free at once.
/// Setting only the mmap threshold or only the trim threshold switches off glibc's adaptive threshold and measured
/// slower than the defaults, not faster.</para>
/// </remarks>
public static class NativeAllocator
{
    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_MAX = -4;

    /// <summary>Whether <see cref="TuneForTensors"/> has changed this process's allocator.</summary>
    public static bool IsTuned { get; private set; }

    /// <summary>Whether this process runs on glibc (the only C runtime this class knows how to tune).</summary>
    public static bool IsSupported => s_supported.Value;

    private static readonly Lazy<bool> s_supported = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return Marshal.PtrToStringAnsi(gnu_get_libc_version()) is { Length: > 0 }; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    });

    /// <summary>
    /// Serves every allocation from the heap (no per-block <c>mmap</c>) and keeps freed memory in the process (no heap
    /// trimming, or only above <paramref name="trimThresholdBytes"/>), so each training step reuses the previous step's
    /// memory. Call it once, early (a program's start, a benchmark's setup; <c>Trainer</c> calls it unless told not to);
    /// calling it again re-applies it. <see cref="ReleaseFreeMemory"/> hands the kept memory back.
    /// </summary>
    /// <param name="trimThresholdBytes">Free memory at the heap top above this is returned to the kernel (1 MiB or more);
    /// null (default) never trims. With a 1 GiB threshold the float32 F0 step at 192 px, batch 32 still took 27,000 page
    /// faults per step (against about 350 without trimming): what a step frees at the top above the threshold is
    /// faulted in again on the next.</param>
    /// <returns>True if the allocator was tuned; false on a platform without glibc (nothing changed).</returns>
    /// <exception cref="ArgumentOutOfRangeException">A trim threshold below 1 MiB.</exception>
    /// <exception cref="InvalidOperationException">glibc refused a setting.</exception>
    public static bool TuneForTensors(int? trimThresholdBytes = null)
    {
        const int MiB = 1024 * 1024;
        if (trimThresholdBytes is < MiB)
            throw new ArgumentOutOfRangeException(nameof(trimThresholdBytes), trimThresholdBytes, "the trim threshold must be at least 1 MiB");
        if (!IsSupported) return false;
        if (mallopt(M_MMAP_MAX, 0) != 1)
            throw new InvalidOperationException("glibc refused M_MMAP_MAX = 0");
        // -1 is glibc's "never trim" (the value is read as an unsigned size).
        if (mallopt(M_TRIM_THRESHOLD, trimThresholdBytes ?? -1) != 1)
            throw new InvalidOperationException($"glibc refused trim threshold {trimThresholdBytes}");
        IsTuned = true;
        return true;
    }

    /// <summary>
    /// Returns the free memory the allocator keeps to the kernel now (glibc <c>malloc_trim(0)</c>), for example after
    /// training when the process goes on to other work. The tuning stays in force.
    /// </summary>
    /// <returns>True if memory was released; false if there was none to release or the platform has no glibc.</returns>
    public static bool ReleaseFreeMemory() => IsSupported && malloc_trim(0) == 1;

    [DllImport("libc.so.6", ExactSpelling = true)]
    private static extern int malloc_trim(nuint pad);

    [DllImport("libc.so.6", ExactSpelling = true)]
    private static extern int mallopt(int param, int value);

    [DllImport("libc.so.6", ExactSpelling = true)]
    private static extern IntPtr gnu_get_libc_version();
}
