using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// Loads TorchSharp's native runtime and turns the commonest failure into a clear error. TorchSharp 0.107's bridge
/// (<c>libLibTorchSharp.so</c>) is built with GCC 13 and needs <c>GLIBCXX_3.4.32</c> from the system's
/// <c>libstdc++.so.6</c>; Debian 12 and Ubuntu 22.04 ship an older one, and the first tensor then fails with a raw
/// <c>DllNotFoundException</c> deep inside TorchSharp. The library's entry points (models, the registry, the trainer,
/// weight loading) call <see cref="EnsureLoaded"/> first; call it yourself before your own first tensor to get the same
/// message.
/// </summary>
public static class NativeRuntime
{
    /// <summary>The C++ runtime symbol version TorchSharp 0.107's native bridge needs.</summary>
    public const string RequiredGlibcxx = "GLIBCXX_3.4.32";

    private static readonly Lazy<Exception?> Failure = new(Load);

    /// <summary>Loads the native runtime once per process.</summary>
    /// <exception cref="NativeRuntimeException">It cannot be loaded; the message names what is missing and the fix.</exception>
    public static void EnsureLoaded()
    {
        if (Failure.Value is { } failure) throw failure;
    }

    /// <summary>Runs <see cref="EnsureLoaded"/> and returns <paramref name="value"/> (for use in constructor chains).</summary>
    internal static T Then<T>(T value)
    {
        EnsureLoaded();
        return value;
    }

    private static Exception? Load()
    {
        try
        {
            using var probe = zeros(1);
            Platform.NativeLogging.Apply();   // before the first convolution: NNPACK's warning otherwise floods the console
            return null;
        }
        catch (Exception e) when (Translate(e) is { } typed)
        {
            return typed;
        }
    }

    /// <summary>The typed error for a failure to load the native runtime, or null when <paramref name="error"/> is
    /// something else.</summary>
    internal static NativeRuntimeException? Translate(Exception error)
    {
        var text = error.ToString();
        if (text.Contains("GLIBCXX_", StringComparison.Ordinal))
            return new NativeRuntimeException(
                $"TorchSharp's native library needs {RequiredGlibcxx} (the C++ runtime of GCC 13 or newer), which this system's " +
                "libstdc++.so.6 does not provide (Debian 12 and Ubuntu 22.04 ship GCC 12's). Install a newer libstdc++6: on Debian 12, " +
                "add Debian 13 'trixie' with a low apt pin and run 'apt-get install -t trixie libstdc++6' (a clone's scripts/setup.sh " +
                "does exactly this); on Ubuntu 22.04, install libstdc++6 from the ubuntu-toolchain-r/test PPA; Ubuntu 24.04+ and " +
                "Debian 13+ need nothing.", error);
        if (error is DllNotFoundException || (error is TypeInitializationException or NotSupportedException && text.Contains("LibTorchSharp", StringComparison.Ordinal)))
            return new NativeRuntimeException(
                "TorchSharp's native runtime (libtorch) could not be loaded. An application must reference a backend package " +
                "besides TorchSharp: TorchSharp-cpu, TorchSharp-cuda-linux or TorchSharp-cuda-windows (or libtorch-cpu-linux-x64 on Linux x64).", error);
        return null;
    }
}

/// <summary>TorchSharp's native runtime cannot be loaded on this system; the message says what is missing and how to fix it.</summary>
public sealed class NativeRuntimeException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public NativeRuntimeException(string message, Exception inner) : base(message, inner) { }
}
