namespace NfNet.Platform;

/// <summary>
/// How every NfNet.NET platform switch is read: an AppContext switch (in code, or <c>runtimeconfig.json</c>'s
/// <c>configProperties</c>, or <c>&lt;RuntimeHostConfigurationOption&gt;</c> in a project) wins; otherwise its
/// environment variable, where 1 or true (any case) means on.
/// </summary>
internal static class Switches
{
    /// <summary>Whether the switch <paramref name="appContextName"/> (or <paramref name="environmentVariable"/>) is on.</summary>
    public static bool IsOn(string appContextName, string environmentVariable, bool defaultValue = false)
    {
        if (AppContext.TryGetSwitch(appContextName, out var on)) return on;
        return Environment.GetEnvironmentVariable(environmentVariable)?.Trim().ToLowerInvariant() switch
        {
            "1" or "true" => true,
            "0" or "false" => false,
            _ => defaultValue,
        };
    }
}
