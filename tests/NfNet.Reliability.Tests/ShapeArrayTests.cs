using System.Reflection;
using NfNet.Testing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace NfNet.Reliability.Tests;

/// <summary>
/// No shipped assembly reads a tensor's sizes or strides through TorchSharp's array-returning members
/// (<c>shape</c>, <c>size()</c>, <c>stride()</c>), and why: each call leaves native memory behind until the next
/// garbage collection (<c>NfNet.Platform.Shapes</c>), which fragmented glibc's heap in the training step.
/// </summary>
public sealed class ShapeArrayTests(ITestOutputHelper output)
{
    private const int Calls = 20_000;

    private static string? ArrayReturning(MethodBase callee) =>
        callee.DeclaringType == typeof(Tensor) && (callee.Name == "get_shape"
            || callee.Name is "size" or "stride" && callee.GetParameters().Length == 0)
            ? "returns an array through a delegate libtorch calls back (use size(d), dim() or NfNet.Platform.Shapes)"
            : null;

    [Theory]
    [MemberData(nameof(ScalarOwnershipTests.ShippedAssemblies), MemberType = typeof(ScalarOwnershipTests))]
    public void NoShippedMethodReadsAShapeArray(string assemblyName)
    {
        var findings = ScalarOwnershipScanner.CallsTo(Assembly.Load(assemblyName), ArrayReturning).ToList();
        foreach (var f in findings) output.WriteLine(f);
        Assert.True(findings.Count == 0, $"{findings.Count} array-returning shape read(s) in {assemblyName}:\n" + string.Join("\n", findings));
    }

    [Fact]
    public void TheScanFindsAShapeReadInThisAssembly()
    {
        var findings = ScalarOwnershipScanner.CallsTo(typeof(ShapeArrayTests).Assembly, ArrayReturning).ToList();
        Assert.Contains(findings, f => f.Contains($"{nameof(ShapeArrayTests)}.{nameof(ReadShapes)}", StringComparison.Ordinal)
            && f.Contains("get_shape", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.Contains(nameof(ReadShapes), StringComparison.Ordinal) && f.Contains("stride()", StringComparison.Ordinal));
        Assert.DoesNotContain(findings, f => f.Contains(nameof(ReadSizes), StringComparison.Ordinal));
    }

    /// <summary>
    /// The hazard itself, observed in glibc: with no collection allowed, 20,000 <c>shape</c> and <c>stride()</c> reads
    /// leave native blocks in use (130–180 bytes a read here, TorchSharp 0.107 / .NET 10), and reading again adds as
    /// much; only after a collection has found their delegates dead does the runtime reuse most of them (the same
    /// reads then took 32 bytes a read). Reading the sizes one by one leaves next to nothing (under 1 byte a read).
    /// </summary>
    [Fact]
    public void TorchSharpsShapeKeepsNativeMemoryUntilACollectionAndSizeDoesNot()
    {
        Assert.True(OperatingSystem.IsLinux(), "CI and the developers' machines run glibc Linux");
        using var t = zeros(2, 3, 4, 5).permute(0, 2, 3, 1);
        Collect();
        var first = GrowthWithoutCollection(() => ReadShapes(t));
        var second = GrowthWithoutCollection(() => ReadShapes(t));
        Collect();
        var afterCollection = GrowthWithoutCollection(() => ReadShapes(t));
        var bySize = GrowthWithoutCollection(() => ReadSizes(t));
        output.WriteLine($"{Calls} shape + stride() reads: +{first:N0} bytes in use, then +{second:N0} more, " +
                         $"+{afterCollection:N0} after a collection; {Calls} size(d) + stride(d) reads: +{bySize:N0}");
        Assert.True(first >= 100L * Calls, $"shape reads left only {first:N0} bytes: has TorchSharp stopped marshalling a delegate per call?");
        Assert.True(second >= 100L * Calls, $"shape reads without a collection in between reused memory ({second:N0} bytes new)");
        Assert.True(afterCollection <= first / 4, $"after a collection shape reads still took {afterCollection:N0} new bytes (before: {first:N0})");
        Assert.True(bySize < 10L * Calls, $"size(d) reads left {bySize:N0} bytes in use");
    }

    private static void ReadShapes(Tensor t)
    {
        for (var i = 0; i < Calls / 2; i++)
        {
            _ = t.shape;
            _ = t.stride();
        }
    }

    private static void ReadSizes(Tensor t)
    {
        for (var i = 0; i < Calls / 2; i++)
        {
            _ = t.size(3);
            _ = t.stride(3);
        }
    }

    private static long GrowthWithoutCollection(Action reads)
    {
        Assert.True(GC.TryStartNoGCRegion(64 << 20), "could not suspend garbage collection");
        try
        {
            var before = GlibcHeap.InUse;
            reads();
            return GlibcHeap.InUse - before;
        }
        finally
        {
            if (System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
    }

    private static void Collect()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
