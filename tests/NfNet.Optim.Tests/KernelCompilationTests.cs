using System.Reflection;
using System.Runtime.CompilerServices;
using NfNet.Layers;
using Xunit;

namespace NfNet.Optim.Tests;

/// <summary>
/// The library's CPU kernels that loop over tensor memory through pointers (the fused AGC-SGD step, the fused weight
/// standardization) are never left to tiered compilation's Tier 0: each is either compiled optimized on its first call
/// (<see cref="MethodImplOptions.AggressiveOptimization"/>) or inlined into one that is. At Tier 0 nothing is inlined,
/// and perf found the optimizer's bf16 helpers running as separate unoptimized calls over a training run's first ten
/// steps (benchmarks/README.md, "The step's budget by perf").
/// </summary>
public sealed class KernelCompilationTests
{
    public static TheoryData<Type> KernelTypes => new() { typeof(FusedCpuAgcSgd), typeof(WeightStandardizationKernels) };

    [Theory]
    [MemberData(nameof(KernelTypes))]
    public void EveryPointerKernelIsCompiledOptimizedOrInlined(Type kernels)
    {
        var pointerMethods = MethodsOf(kernels)
            .Where(m => !m.IsAbstract && m.GetParameters().Any(p => p.ParameterType.IsPointer))
            .ToList();
        // The classes do loop over pointers; an empty list would mean the scan looks at the wrong thing.
        Assert.True(pointerMethods.Count >= 4, $"{kernels.Name}: only {pointerMethods.Count} methods take pointers");
        var leftToTiering = pointerMethods
            .Where(m => (m.MethodImplementationFlags & (MethodImplAttributes.AggressiveOptimization | MethodImplAttributes.AggressiveInlining)) == 0)
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})")
            .ToList();
        Assert.True(leftToTiering.Count == 0, "left to Tier 0: " + string.Join("; ", leftToTiering));
    }

    [Fact]
    public void TheFusedStepsLoopsAreCompiledOptimizedNotMerelyInlined()
    {
        // SquaredNorm and Update (float32 and bf16) hold the loops; inlining alone would leave them at Tier 0 whenever
        // their caller is.
        var loops = MethodsOf(typeof(FusedCpuAgcSgd))
            .Where(m => m.Name is "SquaredNorm" or "Update" && m.GetParameters().Any(p => p.ParameterType.IsPointer))
            .ToList();
        Assert.Equal(4, loops.Count);
        Assert.All(loops, m => Assert.True(m.MethodImplementationFlags.HasFlag(MethodImplAttributes.AggressiveOptimization), m.ToString()));
    }

    private static IEnumerable<MethodInfo> MethodsOf(Type type) =>
        new[] { type }.Concat(type.GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public))
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly));
}
