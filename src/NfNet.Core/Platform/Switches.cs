namespace NfNet.Platform;

/// <summary>
/// How every NfNet.NET platform switch is read (<see cref="PlatformSwitch"/>): an AppContext switch (in code, or
/// <c>runtimeconfig.json</c>'s <c>configProperties</c>, or <c>&lt;RuntimeHostConfigurationOption&gt;</c> in a project) wins;
/// otherwise its environment variable, where 1 or true (any case) means on and 0 or false off.
/// </summary>
internal static class Switches
{
    /// <summary>Whether the switch <paramref name="appContextName"/> (or <paramref name="environmentVariable"/>) is on.</summary>
    public static bool IsOn(string appContextName, string environmentVariable, bool defaultValue = false) =>
        Decide(AppContext.TryGetSwitch(appContextName, out var on) ? on : null, Environment.GetEnvironmentVariable(environmentVariable), defaultValue);

    /// <summary>The rule, from the AppContext switch's value (null: not set) and the variable's (null: not set).</summary>
    public static bool Decide(bool? appContext, string? variable, bool defaultValue) =>
        appContext ?? variable?.Trim().ToLowerInvariant() switch
        {
            "1" or "true" => true,
            "0" or "false" => false,
            _ => defaultValue,
        };
}
