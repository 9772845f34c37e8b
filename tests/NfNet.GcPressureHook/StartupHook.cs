/// <summary>
/// A .NET startup hook that puts any process it is loaded into under constant garbage-collection pressure: two
/// background threads force full collections and run pending finalizers without pause. Anything left to a finalizer
/// while native code still reads it (a TorchSharp Scalar or temporary tensor) is then freed within moments instead of
/// once in many hours, so a hazard that crashes a CI run now and then crashes a run of one test project in about a
/// minute. Used by scripts/test-under-gc-pressure.sh; see docs/platform.md.
/// </summary>
/// <remarks>The runtime finds the hook by this exact name: a class <c>StartupHook</c> in no namespace, with a static
/// <c>Initialize()</c>.</remarks>
internal static class StartupHook
{
    /// <summary>Starts the collector threads; called by the runtime before <c>Main</c>.</summary>
    public static void Initialize()
    {
        for (var i = 0; i < 2; i++)
        {
            new Thread(() =>
            {
                while (true)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                }
            })
            { IsBackground = true, Name = $"gc-pressure-{i}" }.Start();
        }
    }
}
