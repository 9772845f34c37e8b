namespace NfNet.Hub;

/// <summary>
/// Weights could not be found or fetched from the Hugging Face Hub or its cache: the message names the repository, the
/// file, where the cache was looked in and what to do (never the token).
/// </summary>
public sealed class HubException : IOException
{
    /// <summary>Creates the exception.</summary>
    public HubException(string message, int? statusCode = null, Exception? inner = null) : base(message, inner) => StatusCode = statusCode;

    /// <summary>The HTTP status of the refusal (401, 404, …), or null for a cache miss, a network failure or a bad body.</summary>
    public int? StatusCode { get; }
}
