using NfNet.Models;

namespace NfNet.Hub;

/// <summary>
/// Published weights by name: a registry name (<c>dm_nfnet_f0</c> → timm's default tag <c>timm/dm_nfnet_f0.dm_in1k</c>,
/// from the model's <see cref="PretrainedConfig.HubId"/>) or a Hub id (<c>timm/dm_nfnet_f0.dm_in1k</c>,
/// <c>hf-hub:…@revision</c>), resolved to a local file through the shared Hugging Face cache (downloaded once when
/// allowed; see <see cref="HubClient"/>).
/// </summary>
public static class HubWeights
{
    /// <summary>The weights file timm publishes.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>The Hub repository of <paramref name="nameOrId"/>: a Hub id as it is, timm's <c>name.tag</c> of published
    /// weights (<see cref="PublishedWeights"/>), or a registry name's published
    /// weights.</summary>
    /// <exception cref="ArgumentException">A registry name without published weights, or neither a name nor an id.</exception>
    public static HubRepository RepositoryOf(string nameOrId)
    {
        ArgumentNullException.ThrowIfNull(nameOrId);
        if (nameOrId.Contains('/', StringComparison.Ordinal)) return HubRepository.Parse(nameOrId);
        if (PublishedWeights.FindTag(nameOrId) is { } tagged) return HubRepository.Parse(tagged.HubId);
        if (!ModelRegistry.Contains(nameOrId))
            throw new ArgumentException($"'{nameOrId}' is neither a registered model nor a Hub id (org/name)", nameof(nameOrId));
        using var probe = ModelRegistry.Create(nameOrId, device: TorchSharp.torch.META);
        return probe.PretrainedConfig.HubId is { } id ? HubRepository.Parse(id)
            : throw new ArgumentException($"'{nameOrId}' has no published weights (its pretrained configuration has no Hub id): pass a file or a Hub id", nameof(nameOrId));
    }

    /// <summary>The local path of <paramref name="nameOrId"/>'s <paramref name="file"/>, from the cache or downloaded once.</summary>
    /// <exception cref="HubException">Not available (see <see cref="HubClient.Resolve"/>).</exception>
    public static string Resolve(string nameOrId, string file = WeightsFile, HubSettings? settings = null, IProgress<HubDownload>? progress = null)
    {
        using var client = new HubClient(settings);
        return client.Resolve(RepositoryOf(nameOrId), file, progress);
    }
}
