using System.Reflection;
using TorchSharp;
using Xunit.Sdk;

[assembly: NfNet.Testing.TemporariesLiveThroughEachTest]

namespace NfNet.Testing;

/// <summary>
/// Keeps every TorchSharp tensor a test creates reachable until the test ends, then hands it back to the garbage
/// collector as before. Applied to every test assembly that links this file.
/// </summary>
/// <remarks>
/// <para><b>Why.</b> A TorchSharp tensor frees its native memory in its finalizer, and its methods read
/// <c>Handle</c> and call libtorch without <c>GC.KeepAlive(this)</c>. In <c>(a - b).abs().max()</c> the temporary
/// <c>a - b</c> is unreachable once its handle is read, so a collection on another thread (xUnit's, the library's data
/// loaders) can finalize it while <c>THSTensor_abs</c> reads it: a segmentation fault that kills the test host. The
/// library keeps its own per-step tensors in dispose scopes; test code is full of such expressions, and the two
/// intermittent test-host crashes of 2026-12-02/03 were reproduced this way (two threads forcing collections through a
/// startup hook: the Core tests' host died in <c>THSTensor_item</c> or <c>THSTensor_abs</c> within a minute in each of
/// three runs, and passed all 301 tests with this attribute; docs/platform.md).</para>
/// <para><b>How.</b> A <see cref="torch.NewDisposeScope"/> opened before each test roots every tensor made on the
/// test's thread (a scope holds its tensors); after the test the scope lets go of them all (<c>Detach</c>) instead
/// of disposing them, so a tensor a test hands to a fixture or a cache stays valid, and the finalizer frees the rest
/// later, when nothing can be reading them. xUnit runs a synchronous test, its <c>Before</c> and its <c>After</c> on
/// one thread; the scope is per thread, so tests that run in parallel each have their own.</para>
/// </remarks>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method)]
internal sealed class TemporariesLiveThroughEachTestAttribute : BeforeAfterTestAttribute
{
    [ThreadStatic] private static Stack<DisposeScope>? _open;

    /// <inheritdoc />
    public override void Before(MethodInfo methodUnderTest) => (_open ??= new()).Push(torch.NewDisposeScope());

    /// <inheritdoc />
    public override void After(MethodInfo methodUnderTest)
    {
        // Only the thread that opened a scope may close it (a scope belongs to its thread's scope stack).
        if (_open is not { Count: > 0 }) return;
        var scope = _open.Pop();
        scope.Detach(scope.DisposablesView.ToArray());
        scope.Dispose();
    }
}
