using NfNet.Devices;
using NfNet.Platform;
using Xunit;

namespace NfNet.Tests;

/// <summary>The native runtime check: loads here, and turns a missing C++ runtime into a typed error naming the fix.</summary>
public sealed class NativeRuntimeTests
{
    [Fact]
    public void TheRuntimeLoadsOnThisMachine() => NativeRuntime.EnsureLoaded();

    [Fact]
    public void AMissingGlibcxxBecomesATypedErrorNamingTheRuntimeAndTheFix()
    {
        // The loader's message on Debian 12 (libstdc++ of GCC 12), as TorchSharp 0.107 passes it on.
        var raw = new DllNotFoundException("Unable to load shared library 'LibTorchSharp' or one of its dependencies. " +
            "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by /app/runtimes/linux-x64/native/libLibTorchSharp.so)");
        var wrapped = new TypeInitializationException("TorchSharp.torch", raw);
        var typed = NativeRuntime.Translate(wrapped);
        Assert.NotNull(typed);
        Assert.Contains("GLIBCXX_3.4.32", typed!.Message);
        Assert.Contains("trixie", typed.Message);
        Assert.Same(wrapped, typed.InnerException);
    }

    [Fact]
    public void AMissingBackendPackageBecomesATypedErrorNamingThePackages()
    {
        var typed = NativeRuntime.Translate(new DllNotFoundException("Unable to load shared library 'LibTorchSharp'"));
        Assert.Contains("TorchSharp-cpu", typed!.Message);
        Assert.Null(NativeRuntime.Translate(new InvalidOperationException("something else")));
    }
}
