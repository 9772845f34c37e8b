namespace NfNet;

/// <summary>
/// A tensor passed to a model or layer has the wrong rank, channel count, element type or device.
/// The message says what was expected and what came, e.g. <c>expected input [N, 3, H, W], got [3, 224, 224]</c>.
/// </summary>
public sealed class InvalidInputException : ArgumentException
{
    /// <summary>Creates the exception with a message naming the expected and the actual shape.</summary>
    public InvalidInputException(string message, string? paramName = null) : base(message, paramName) { }

    internal static string Describe(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
