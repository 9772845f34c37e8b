using NfNet.Devices;
using NfNet.Platform;

namespace NfNet.Benchmarks;

/// <summary>
/// Applies <see cref="NativeAllocator.TuneForTensors"/> in each benchmark process (the default), or leaves glibc's
/// defaults with <c>NFNET_BENCH_ALLOCATOR=default</c>, to compare the two.
/// </summary>
internal static class AllocatorSetting
{
    public static void Apply()
    {
        var setting = BenchmarkTarget.Env("NFNET_BENCH_ALLOCATOR", "tuned").Trim().ToLowerInvariant();
        var tuned = setting switch
        {
            "tuned" => NativeAllocator.TuneForTensors(),
            "default" => false,
            _ => throw new ArgumentException($"NFNET_BENCH_ALLOCATOR must be 'tuned' or 'default', got '{setting}'"),
        };
        Console.WriteLine($"// native allocator: {(tuned ? "tuned (NativeAllocator.TuneForTensors)" : "C runtime defaults")}");
    }
}
