namespace NfNet.Models.Baselines;

/// <summary>A comparison model's configuration (or a layer's arguments) cannot describe a valid network; the message
/// names the configuration, the field and the rule.</summary>
public sealed class InvalidBaselineConfigException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public InvalidBaselineConfigException(string message, string? paramName = null) : base(message, paramName) { }
}
