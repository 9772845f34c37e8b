namespace NfNet;

/// <summary>An <see cref="Models.NFNetConfig"/> (or a layer's arguments) cannot describe a valid network.</summary>
public sealed class InvalidNFNetConfigException : ArgumentException
{
    /// <summary>Creates the exception; the message names the field, the rule and the value that broke it.</summary>
    public InvalidNFNetConfigException(string message, string? paramName = null) : base(message, paramName) { }
}
