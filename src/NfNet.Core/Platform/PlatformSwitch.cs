namespace NfNet.Platform;

/// <summary>
/// One platform switch: an <c>AppContext</c> switch (set in code with <c>AppContext.SetSwitch</c>, in
/// <c>runtimeconfig.json</c>'s <c>configProperties</c>, or with <c>&lt;RuntimeHostConfigurationOption&gt;</c> in a
/// project), which wins, or else its environment variable (<c>1</c>/<c>true</c> on, <c>0</c>/<c>false</c> off, any
/// case). Every switch is listed in <see cref="PlatformSwitches.All"/>.
/// </summary>
/// <param name="AppContextName">The <c>AppContext</c> switch name.</param>
/// <param name="EnvironmentVariable">The environment variable read when the <c>AppContext</c> switch is not set.</param>
/// <param name="DefaultValue">Its value when neither is set.</param>
/// <param name="Effect">What turning it on does.</param>
/// <param name="ReadOnce">Whether it is read once per process (at first use) rather than at each use.</param>
public sealed record PlatformSwitch(string AppContextName, string EnvironmentVariable, bool DefaultValue, string Effect, bool ReadOnce = false)
{
    /// <summary>Whether the switch is on now.</summary>
    public bool IsOn => Switches.IsOn(AppContextName, EnvironmentVariable, DefaultValue);
}
