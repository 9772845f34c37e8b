namespace NfNet.Hub;

/// <summary>
/// Where weights come from, as <c>huggingface_hub</c> reads it from the environment: the cache directory
/// (<c>HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c>), the endpoint (<c>HF_ENDPOINT</c>,
/// for mirrors), the token (<c>HF_TOKEN</c>, sent only to the endpoint's host) and offline mode (<c>HF_HUB_OFFLINE=1</c>:
/// never touch the network). The cache is shared with Python: files timm downloaded are found here, and ours by timm.
/// </summary>
public sealed record HubSettings
{
    /// <summary>The Hub's public endpoint.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The cache root (the folder holding <c>models--org--name</c>).</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>The endpoint, without a trailing slash.</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>The access token for gated or private repositories, or null. Never printed, logged or stored.</summary>
    public string? Token { get; init; }

    /// <summary>Whether the network may not be used: only the cache is read.</summary>
    public bool Offline { get; init; }

    /// <summary>How long a request may wait for the server's answer (its headers).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a download may go without receiving a byte (huggingface_hub's <c>HF_HUB_DOWNLOAD_TIMEOUT</c>,
    /// read from it, default 10 s); a stalled body is then abandoned.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one file's download may take in all (default 2 hours: an F7's 2 GB at 300 kB/s), so a server
    /// that trickles bytes cannot hold a run for ever.</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>The most bytes accepted for a file whose size the server does not announce (default 64 MiB: the Hub
    /// announces the size of every LFS file, and keeps larger files in LFS).</summary>
    public long MaxUnannouncedBytes { get; init; } = 64L << 20;

    /// <summary>The settings of this process's environment.</summary>
    public static HubSettings FromEnvironment() => From(Environment.GetEnvironmentVariable);

    /// <summary>The settings that <paramref name="variable"/> (an environment lookup) gives.</summary>
    public static HubSettings From(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        string? Get(string name) => variable(name) is { Length: > 0 } v ? v : null;
        var home = Get("HF_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface");
        return new HubSettings
        {
            CacheDirectory = Get("HF_HUB_CACHE") ?? Path.Combine(home, "hub"),
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            Token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN"),
            Offline = Get("HF_HUB_OFFLINE")?.Trim().ToLowerInvariant() is "1" or "true" or "yes" or "on",
            ReadTimeout = double.TryParse(Get("HF_HUB_DOWNLOAD_TIMEOUT"), System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0 && double.IsFinite(seconds)
                ? TimeSpan.FromSeconds(Math.Min(seconds, 86_400)) : TimeSpan.FromSeconds(10),
        };
    }

    /// <inheritdoc />
    public override string ToString() => $"HubSettings {{ CacheDirectory = {CacheDirectory}, Endpoint = {Endpoint}, Token = {(Token is null ? "none" : "set")}, Offline = {Offline} }}";
}
