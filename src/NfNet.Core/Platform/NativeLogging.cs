using System.Runtime.InteropServices;

namespace NfNet.Platform;

/// <summary>
/// Keeps libtorch's C++ warnings (c10's <c>LOG(WARNING)</c>) off the user's console. On CPUs without NNPACK support
/// (this project's AMD machines among them) every CPU convolution that libtorch considers for NNPACK prints "Could
/// not initialize NNPACK! Reason: Unsupported hardware." — 52 times in the demo — and nothing can be done about it.
/// </summary>
/// <remarks>
/// <para>c10 reads its log level from the native environment variable <c>TORCH_CPP_LOG_LEVEL</c>, but only when
/// <c>c10::initLogging()</c> runs: Python's <c>torch</c> calls it at import, libtorch in a .NET process never does, and
/// .NET's <c>Environment.SetEnvironmentVariable</c> does not reach the C runtime's environment on Linux anyway. So this
/// sets the variable with the C runtime's <c>setenv</c> (unless the user set it) and calls <c>c10::initLogging()</c>
/// once, when <see cref="Platform.NativeRuntime"/> first loads libtorch. Errors are still printed.</para>
/// <para>To see the warnings again: the AppContext switch <see cref="ShowWarningsSwitch"/>, or the environment variable
/// <see cref="ShowWarningsVariable"/>=1, or your own <c>TORCH_CPP_LOG_LEVEL</c> (INFO, WARNING, ERROR, FATAL), which is
/// always respected.</para>
/// </remarks>
internal static class NativeLogging
{
    /// <summary>The AppContext switch that keeps libtorch's warnings.</summary>
    public static string ShowWarningsSwitch => PlatformSwitches.ShowNativeWarnings.AppContextName;

    /// <summary>The environment variable that keeps libtorch's warnings (1 or true).</summary>
    public static string ShowWarningsVariable => PlatformSwitches.ShowNativeWarnings.EnvironmentVariable;

    private const string LogLevelVariable = "TORCH_CPP_LOG_LEVEL";

    /// <summary>Whether libtorch's warnings are to be shown (the switch, else the environment variable; default no).</summary>
    public static bool ShowWarnings => PlatformSwitches.ShowNativeWarnings.IsOn;

    /// <summary>The level set at load: what the user's <c>TORCH_CPP_LOG_LEVEL</c> says, else ERROR or WARNING.</summary>
    public static string? AppliedLevel { get; private set; }

    /// <summary>Applies the log level to c10 (call once libtorch is loaded). Does nothing where it cannot (Windows, or a
    /// libtorch without the symbol): the warnings then show as before.</summary>
    public static void Apply()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        try
        {
            var level = Environment.GetEnvironmentVariable(LogLevelVariable) ?? (ShowWarnings ? "WARNING" : "ERROR");
            if (setenv(LogLevelVariable, level, 1) != 0) return;
            InitLogging();
            AppliedLevel = level;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [DllImport("libc", EntryPoint = "setenv", ExactSpelling = true)]
    private static extern int setenv(string name, string value, int overwrite);

    // c10::initLogging(): reads TORCH_CPP_LOG_LEVEL into FLAGS_caffe2_log_level (c10/util/Logging.cpp).
    [DllImport("c10", EntryPoint = "_ZN3c1011initLoggingEv", ExactSpelling = true)]
    private static extern void InitLogging();
}
