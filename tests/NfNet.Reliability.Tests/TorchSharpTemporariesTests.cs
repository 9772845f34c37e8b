using System.Runtime.CompilerServices;
using NfNet.Testing;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Reliability.Tests;

/// <summary>The per-test scope of tests/Shared/TorchSharpTemporaries.cs holds a test's tensors through the test and lets
/// go of them afterwards without disposing them.</summary>
public sealed class TorchSharpTemporariesTests
{
    [Fact]
    public void ATemporaryTensorSurvivesACollectionDuringTheTest()
    {
        var weak = Unreferenced();
        Collect();
        Assert.True(weak.IsAlive, "the per-test scope should hold a tensor nothing else references");
    }

    [Fact]
    public void AfterTheTestItsTensorsAreValidAndLeftToTheCollector()
    {
        var attribute = new TemporariesLiveThroughEachTestAttribute();
        var method = typeof(TorchSharpTemporariesTests).GetMethod(nameof(AfterTheTestItsTensorsAreValidAndLeftToTheCollector))!;
        attribute.Before(method);
        var kept = ones(3);
        var weak = Unreferenced();
        attribute.After(method);
        Assert.False(kept.IsInvalid);                          // let go of, not disposed: a fixture may still hold it
        Assert.Equal(3.0, kept.sum().item<float>());
        kept.Dispose();
        Collect();
        Assert.False(weak.IsAlive, "after the test its scope should no longer hold the tensor");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference Unreferenced() => new(zeros(4));

    private static void Collect()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
