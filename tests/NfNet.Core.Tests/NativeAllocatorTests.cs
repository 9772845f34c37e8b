using System.Runtime.InteropServices;
using NfNet.Devices;
using NfNet.Platform;
using NfNet.Testing;
using Xunit;

namespace NfNet.Tests;

public sealed class NativeAllocatorTests
{
    [Fact]
    public void RejectsATrimThresholdBelowOneMiB() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeAllocator.TuneForTensors(trimThresholdBytes: 4096));

    [Fact]
    public void AfterTuningA48MiBBlockComesFromTheHeapNotAFreshMapping()
    {
        Assert.Equal(OperatingSystem.IsLinux(), NativeAllocator.IsSupported); // CI and the dev machines run glibc Linux
        if (!NativeAllocator.IsSupported)
        {
            Assert.False(NativeAllocator.TuneForTensors());
            return;
        }
        Assert.True(NativeAllocator.TuneForTensors());
        Assert.True(NativeAllocator.IsTuned);
        // glibc's defaults give any fresh block above 32 MiB (the most its adaptive mmap threshold reaches) a mapping of
        // its own; tuned, a 48 MiB block comes from an arena, so the total of mapped bytes does not grow by it.
        const int size = 48 * 1024 * 1024;
        var growth = GrowthOfMappedBytes(size);
        Assert.True(growth < size, $"a 48 MiB block was mapped (mapped bytes grew by {growth})");
        // The freed 48 MiB stays in the process (no trimming); ReleaseFreeMemory hands free memory back.
        Assert.True(NativeAllocator.ReleaseFreeMemory());
    }

    // How much glibc's total of mapped bytes grows while a block of this size is held.
    private static long GrowthOfMappedBytes(int size)
    {
        var before = (long)GlibcHeap.Now().Hblkhd;
        var block = Marshal.AllocHGlobal(size); // malloc on Unix
        try { return (long)GlibcHeap.Now().Hblkhd - before; }
        finally { Marshal.FreeHGlobal(block); }
    }
}
