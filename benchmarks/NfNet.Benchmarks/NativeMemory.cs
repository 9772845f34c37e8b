namespace NfNet.Benchmarks;

/// <summary>
/// The process's native memory high-water mark (Linux <c>VmHWM</c>), which BenchmarkDotNet's memory column cannot see
/// (it counts managed allocations only; tensors live in native memory).
/// </summary>
internal static class NativeMemory
{
    public static string HighWaterMark()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return "n/a (not Linux)";
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? "n/a" : line["VmHWM:".Length..].Trim();
    }

    public static void Report(string what) => Console.WriteLine($"// native memory high-water mark after {what}: {HighWaterMark()}");
}
