namespace NfNet.Tests.Hub;

/// <summary>What <c>huggingface_hub.hf_hub_download(repository, "model.safetensors")</c> leaves in a cache, made by hand:
/// <c>blobs/{sha256}</c>, <c>snapshots/{commit}/model.safetensors → ../../blobs/{sha256}</c>, <c>refs/main = commit</c>.</summary>
internal static class HandLaidCache
{
    /// <summary>Lays <paramref name="bytes"/> out as <paramref name="repository"/>'s weights at <paramref name="commit"/>;
    /// returns the snapshot path.</summary>
    public static string LayOut(string cache, string repository, string commit, byte[] bytes)
    {
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        var root = Path.Combine(cache, "models--" + repository.Replace("/", "--"));
        Directory.CreateDirectory(Path.Combine(root, "blobs"));
        Directory.CreateDirectory(Path.Combine(root, "refs"));
        Directory.CreateDirectory(Path.Combine(root, "snapshots", commit));
        File.WriteAllBytes(Path.Combine(root, "blobs", sha), bytes);
        File.WriteAllText(Path.Combine(root, "refs", "main"), commit);
        var snapshot = Path.Combine(root, "snapshots", commit, "model.safetensors");
        File.CreateSymbolicLink(snapshot, $"../../blobs/{sha}");
        return snapshot;
    }
}
