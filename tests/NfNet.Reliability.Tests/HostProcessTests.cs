using System.Runtime.InteropServices;
using NfNet.Devices;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Testing;
using NfNet.Training;
using Xunit;

namespace NfNet.Reliability.Tests;

/// <summary>
/// The library leaves the host process as it found it: a <see cref="Trainer"/> with default options does not retune
/// glibc's allocator (observed in glibc itself, not in our bookkeeping), and opting in does.
/// </summary>
public sealed class HostProcessTests
{
    /// <summary>Whether glibc serves a fresh 40 MiB block with its own mmap. By default it does: 40 MiB is above the
    /// largest threshold glibc's adaptive rule can reach (32 MiB). Tuned (M_MMAP_MAX = 0) it comes from an arena, also
    /// on a thread's own arena, whose heaps hold up to 64 MiB (above that glibc maps the block whatever the setting).</summary>
    private static unsafe bool LargeBlocksAreMapped()
    {
        var before = GlibcHeap.Now().Hblks;
        var block = NativeMemory.Alloc(40 << 20);
        try { return GlibcHeap.Now().Hblks == before + 1; }
        finally { NativeMemory.Free(block); }
    }

    [Fact]
    public void ATrainerWithDefaultOptionsLeavesTheAllocatorAloneAndTuningIsOptIn()
    {
        Assert.True(OperatingSystem.IsLinux() && NativeAllocator.IsSupported, "CI and the developers' machines run glibc Linux");
        Assert.True(LargeBlocksAreMapped(), "glibc's default: a 40 MiB block is mmapped (was the process tuned before this test?)");
        var config = FashionMnistRecipe.Model(8) with { GroupWidth = 8, StemWidth = 16 };
        using (var model = new NFNet(config))
        using (new Trainer(model, 10, FashionMnistRecipe.Options(1, 8)))
        {
            Assert.True(LargeBlocksAreMapped(), "a Trainer with default options changed glibc's allocator");
            Assert.False(NativeAllocator.IsTuned);
        }
        using (var model = new NFNet(config))
        using (new Trainer(model, 10, FashionMnistRecipe.Options(1, 8) with { TuneNativeAllocator = true }))
        {
            Assert.False(LargeBlocksAreMapped(), "TuneNativeAllocator = true did not reach glibc (M_MMAP_MAX = 0)");
            Assert.True(NativeAllocator.IsTuned);
        }
    }
}
