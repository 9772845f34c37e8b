using NfNet.Hub;
using NfNet.Layers;
using NfNet.Models;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests.Hub;

/// <summary>
/// Weights by name through the Hugging Face cache, against a Hub on 127.0.0.1 that the tests start (no other address is
/// ever reached): first download, cached use with the server stopped, offline mode, resume after a dropped connection,
/// a corrupted body refused, 401/404, the token kept out of every message and file, and a cache laid out by hand
/// exactly as <c>huggingface_hub</c> lays it out, found and loaded.
/// </summary>
public sealed class HubTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly string _cache = Directory.CreateTempSubdirectory("nfnet-hf-").FullName;

    public void Dispose() => Directory.Delete(_cache, recursive: true);

    private static byte[] TinyWeights => File.ReadAllBytes(TestFixtures.TinyWeights);

    private HubSettings Settings(LoopbackHub hub, string? token = null, bool offline = false) =>
        new() { CacheDirectory = _cache, Endpoint = hub.Endpoint, Token = token, Offline = offline, Timeout = TimeSpan.FromSeconds(10) };

    private static string AllText(string dir) =>
        string.Join("\n", Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Where(f => new FileInfo(f).LinkTarget is null).Select(File.ReadAllText));

    [Fact]
    public void AFirstDownloadLaysOutTheCacheAsHuggingFaceHubAndLaterUsesNeedNoServer()
    {
        var bytes = TinyWeights;
        using var hub = new LoopbackHub();
        hub.Add("nfnet-tests/tiny-nfnet", Commit, "model.safetensors", bytes);
        var repo = HubRepository.Parse("hf-hub:nfnet-tests/tiny-nfnet");
        var progress = new List<HubDownload>();
        string path;
        using (var client = new HubClient(Settings(hub)))
            path = client.Resolve(repo, "model.safetensors", new SynchronousProgress<HubDownload>(progress.Add));
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Equal(bytes.Length, progress[^1].Downloaded);

        // huggingface_hub's layout: blobs/{sha256}, snapshots/{commit}/{file} -> ../../blobs/{sha256}, refs/main = commit.
        var root = Path.Combine(_cache, "models--nfnet-tests--tiny-nfnet");
        var sha = LoopbackHub.Sha256(bytes);
        Assert.Equal(Path.Combine(root, "snapshots", Commit, "model.safetensors"), path);
        Assert.Equal(Path.Combine("..", "..", "blobs", sha), new FileInfo(path).LinkTarget);
        Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(root, "blobs", sha)));
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(root, "refs", "main")));
        Assert.Empty(Directory.GetFiles(root, "*.incomplete", SearchOption.AllDirectories));
        var requests = hub.Requests.Count;

        hub.Stop();
        using var again = new HubClient(Settings(hub));
        Assert.Equal(path, again.Resolve(repo, "model.safetensors"));
        Assert.Equal(requests, hub.Requests.Count);
        using var model = new NFNet(TestFixtures.TinyConfig);
        model.LoadSafetensors(path);   // strict: the cached file is the fixture's timm weights
    }

    [Fact]
    public void OfflineModeNeverTouchesTheNetworkAndSaysWhereItLooked()
    {
        using var hub = new LoopbackHub();
        hub.Add("nfnet-tests/tiny-nfnet", Commit, "model.safetensors", TinyWeights);
        using var client = new HubClient(Settings(hub, offline: true));
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse("nfnet-tests/tiny-nfnet"), "model.safetensors"));
        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Contains(Path.Combine(_cache, "models--nfnet-tests--tiny-nfnet"), error.Message);
        Assert.Empty(hub.Requests);
        Assert.True(HubSettings.From(n => n == "HF_HUB_OFFLINE" ? "1" : null).Offline);
    }

    [Fact]
    public void AnUnreachableHubIsATypedErrorThatSaysTheCacheWorksOffline()
    {
        var hub = new LoopbackHub();
        var settings = Settings(hub);
        hub.Dispose();   // nothing listens on the port any more
        using var client = new HubClient(settings);
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse("nfnet-tests/tiny-nfnet"), "model.safetensors"));
        Assert.Contains($"cannot reach {settings.Endpoint}", error.Message);
        Assert.Null(error.StatusCode);
    }

    [Fact]
    public void ADroppedConnectionIsResumedWithARangeRequest()
    {
        var bytes = TinyWeights;
        using var hub = new LoopbackHub { DropAfterBytes = bytes.Length / 3 };
        hub.Add("nfnet-tests/tiny-nfnet", Commit, "model.safetensors", bytes);
        using var client = new HubClient(Settings(hub));
        var path = client.Resolve(HubRepository.Parse("nfnet-tests/tiny-nfnet"), "model.safetensors");
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Contains(hub.Requests, r => r.Method == "GET" && r.Range == $"bytes={bytes.Length / 3}-");
    }

    [Fact]
    public void ACorruptedBodyIsRefusedAndNothingIsPublished()
    {
        using var hub = new LoopbackHub { CorruptBodies = true };
        hub.Add("nfnet-tests/tiny-nfnet", Commit, "model.safetensors", TinyWeights);
        using var client = new HubClient(Settings(hub));
        var repo = HubRepository.Parse("nfnet-tests/tiny-nfnet");
        var error = Assert.Throws<HubException>(() => client.Resolve(repo, "model.safetensors"));
        Assert.Contains("SHA-256", error.Message);
        Assert.Null(client.Cache.TryFind(repo, "model.safetensors"));
        var root = Path.Combine(_cache, "models--nfnet-tests--tiny-nfnet");
        Assert.Empty(Directory.Exists(root) ? Directory.GetFiles(root, "*", SearchOption.AllDirectories) : Array.Empty<string>());
    }

    [Fact]
    public void RefusalsAreTypedAndTheTokenIsNeverPrintedOrStored()
    {
        const string token = "hf_secret_token_for_the_test";
        using var hub = new LoopbackHub { RequiredToken = token, CdnHost = "localhost" };
        hub.Add("nfnet-tests/gated", Commit, "model.safetensors", TinyWeights);
        hub.Add("nfnet-tests/gated", Commit, "config.json", "{\"architecture\": \"tiny\"}"u8.ToArray(), lfs: false);
        var repo = HubRepository.Parse("nfnet-tests/gated");

        using (var anonymous = new HubClient(Settings(hub)))
        {
            var refused = Assert.Throws<HubException>(() => anonymous.Resolve(repo, "model.safetensors"));
            Assert.Equal(401, refused.StatusCode);
            Assert.Contains("HF_TOKEN", refused.Message);
        }
        using (var wrong = new HubClient(Settings(hub, token: "hf_wrong")))
            Assert.DoesNotContain("hf_wrong", Assert.Throws<HubException>(() => wrong.Resolve(repo, "model.safetensors")).Message);
        using var client = new HubClient(Settings(hub, token: token));
        var missing = Assert.Throws<HubException>(() => client.Resolve(repo, "no-such-file.bin"));
        Assert.Equal(404, missing.StatusCode);
        Assert.DoesNotContain(token, missing.Message);
        Assert.Equal(TinyWeights, File.ReadAllBytes(client.Resolve(repo, "model.safetensors")));
        Assert.Equal("{\"architecture\": \"tiny\"}", File.ReadAllText(client.Resolve(repo, "config.json")));   // a non-LFS file (git blob ETag)
        // The token went to the Hub's host only: the CDN (another host name) never saw it.
        Assert.All(hub.Requests.Where(r => r.Path.StartsWith("/cdn/", StringComparison.Ordinal)), r => Assert.Null(r.Authorization));
        Assert.DoesNotContain(token, AllText(_cache));
        Assert.DoesNotContain(token, client.Settings.ToString());
    }

    [Fact]
    public void ACacheLaidOutByHandAsHuggingFaceHubDoesIsFoundAndLoadedByRegistryName()
    {
        // What `huggingface_hub.hf_hub_download("timm/dm_nfnet_f0.dm_in1k", "model.safetensors")` leaves behind, made by hand.
        var snapshot = HandLaidCache.LayOut(_cache, "timm/dm_nfnet_f0.dm_in1k", Commit, TinyWeights);

        var settings = HubSettings.From(name => name switch { "HF_HOME" => Path.GetDirectoryName(_cache), "HF_HUB_CACHE" => _cache, "HF_HUB_OFFLINE" => "1", _ => null });
        var path = HubWeights.Resolve("dm_nfnet_f0", settings: settings);   // the registry name maps to timm's default tag
        Assert.Equal(snapshot, path);
        Assert.Equal(HubRepository.Parse("timm/dm_nfnet_f0.dm_in1k"), HubWeights.RepositoryOf("dm_nfnet_f0"));
        using var model = new NFNet(TestFixtures.TinyConfig);
        model.LoadSafetensors(path);
        using var reference = TestFixtures.LoadTiny();
        model.eval();
        using var _ = no_grad();
        using var x = randn(1, 3, 32, 32);
        Assert.True(model.forward(x).allclose(reference.forward(x), 0, 0));
        // A commit revision resolves without a ref.
        Assert.Equal(path, new HubCache(_cache).TryFind(HubRepository.Parse($"timm/dm_nfnet_f0.dm_in1k@{Commit}"), "model.safetensors"));
    }

    [Fact]
    public void PretrainedTrueLoadsThePublishedWeightsAndResetsTheClassifierForAnotherClassCount()
    {
        ModelRegistry.Register<HubTinyConfig>("hub_tiny", o => new HubTinyConfig(o.NumClasses ?? 4), (c, d) => new HubTinyNet(c, d));
        manual_seed(3);
        using var published = new HubTinyNet(new HubTinyConfig(4), null);
        var file = Path.Combine(_cache, "published.safetensors");
        published.SaveSafetensors(file);
        using var hub = new LoopbackHub();
        hub.Add("nfnet-tests/hub-tiny", Commit, "model.safetensors", File.ReadAllBytes(file));

        using var same = ModelRegistry.Create("hub_tiny", new ModelOptions { Pretrained = true, Hub = Settings(hub) });
        foreach (var (name, p) in published.named_parameters())
            Assert.True(p.allclose(same.named_parameters().Single(q => q.name == name).parameter, 0, 0), name);
        using var other = ModelRegistry.Create("hub_tiny", new ModelOptions { Pretrained = true, NumClasses = 7, Hub = Settings(hub) });
        Assert.Equal(7, other.NumClasses);
        Assert.True(published.named_parameters().First().parameter.allclose(other.named_parameters().First().parameter, 0, 0));
        Assert.Throws<ArgumentException>(() => ModelRegistry.Create("hub_tiny", new ModelOptions { Pretrained = true, InChannels = 1, Hub = Settings(hub) }));
        Assert.Throws<ArgumentException>(() => ModelRegistry.Create("dm_nfnet_f7", new ModelOptions { Pretrained = true, Hub = Settings(hub), Device = META }));
    }

    /// <summary>The configuration of <see cref="HubTinyNet"/>.</summary>
    public sealed record HubTinyConfig(int NumClasses);

    /// <summary>A small model whose published weights live in the loopback Hub.</summary>
    public sealed class HubTinyNet : ImageClassifier
    {
        private readonly ScaledWSConv2d conv;
        private readonly LinearClassifier _classifier;
        private readonly HubTinyConfig _config;

        public HubTinyNet(HubTinyConfig config, Device? device) : base("hub_tiny")
        {
            _config = config;
            conv = new ScaledWSConv2d(3, 8, 3, stride: 2, device: device);
            RegisterComponents();
            _classifier = new LinearClassifier(this, "fc", "fc", 8, config.NumClasses, LinearClassifier.NormalInit(0.01), device);
        }

        public override int InChannels => 3;
        public override int NumFeatures => 8;
        public override object Configuration => _config;
        public override PretrainedConfig PretrainedConfig => PretrainedConfig.ImageNetDefault with { HubId = "nfnet-tests/hub-tiny", NumClasses = 4 };
        protected override LinearClassifier Classifier => _classifier;
        protected override long CountFeatureMacs(int height, int width) => conv.CountMacs(height, width);
        public override Tensor forward_features(Tensor images) => conv.call(images);
        public override Tensor forward_head(Tensor features, bool preLogits = false)
        {
            using var pooled = GlobalPool.Avg.Apply(features);
            return preLogits ? pooled.alias() : _classifier.Apply(pooled);
        }
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
