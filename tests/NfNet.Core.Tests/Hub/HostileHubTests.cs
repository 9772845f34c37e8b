using System.Diagnostics;
using NfNet.Hub;
using Xunit;

namespace NfNet.Tests.Hub;

/// <summary>
/// A Hub mirror on 127.0.0.1 that lies: path-like ETags and commits, bodies that stall, trickle, run long or stop
/// short, and a cache whose ref file points outside. Each is refused with a <see cref="HubException"/> naming the URL,
/// nothing is written outside the cache, and no download outlives its timeouts.
/// </summary>
public sealed class HostileHubTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private const string Repo = "nfnet-tests/tiny-nfnet";
    private readonly string _root = Directory.CreateTempSubdirectory("nfnet-hostile-").FullName;
    private readonly string _cache;
    private readonly string _victim;

    public HostileHubTests()
    {
        _cache = Path.Combine(_root, "cache");
        Directory.CreateDirectory(_cache);
        _victim = Path.Combine(_root, "victim.txt");
        File.WriteAllText(_victim, "precious");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static byte[] Bytes { get; } = File.ReadAllBytes(TestFixtures.TinyWeights);

    private HubClient Client(LoopbackHub hub, TimeSpan? read = null, TimeSpan? total = null) => new(new HubSettings
    {
        CacheDirectory = _cache, Endpoint = hub.Endpoint, Timeout = TimeSpan.FromSeconds(10),
        ReadTimeout = read ?? TimeSpan.FromSeconds(10), DownloadTimeout = total ?? TimeSpan.FromMinutes(1),
    });

    private LoopbackHub Hub(bool lfs = true)
    {
        var hub = new LoopbackHub();
        hub.Add(Repo, Commit, "model.safetensors", Bytes, lfs);
        return hub;
    }

    // Nothing outside the cache changed, and nothing was published in it.
    private void AssertNothingEscapedOrPublished()
    {
        Assert.Equal("precious", File.ReadAllText(_victim));
        Assert.Equal(new[] { _cache, _victim }.Order(), Directory.GetFileSystemEntries(_root).Order());
        var snapshots = Path.Combine(_cache, "models--nfnet-tests--tiny-nfnet", "snapshots");
        Assert.False(Directory.Exists(snapshots) && Directory.GetFiles(snapshots, "*", SearchOption.AllDirectories).Length > 0);
    }

    [Theory]
    [InlineData("X-Linked-Etag", "\"../../../victim.txt\"")]
    [InlineData("X-Linked-Etag", "\"/tmp/nfnet-hostile-absolute\"")]
    [InlineData("X-Linked-Etag", "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde/\"")]
    [InlineData("X-Repo-Commit", "../../../victim.txt")]
    [InlineData("X-Repo-Commit", "/tmp/nfnet-hostile-absolute")]
    [InlineData("X-Repo-Commit", "main")]
    public void APathLikeHeaderIsRefusedAndNothingIsWrittenOutsideTheCache(string header, string value)
    {
        using var hub = Hub();
        hub.ResolveHeaders[header] = value;
        using var client = Client(hub);
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse(Repo), "model.safetensors"));
        Assert.Contains(hub.Endpoint, error.Message);
        Assert.Contains(value.Trim('"')[..Math.Min(20, value.Trim('"').Length)], error.Message);
        AssertNothingEscapedOrPublished();
        Assert.False(File.Exists("/tmp/nfnet-hostile-absolute"));
    }

    [Theory]
    [InlineData("org/name@/abs/path")]
    [InlineData("org/name@../../x")]
    [InlineData("org/name@refs/pr/1")]
    [InlineData("org/name@")]
    public void ARevisionThatIsAPathIsRefusedBeforeAnyRequest(string text)
    {
        Assert.Throws<ArgumentException>(() => HubRepository.Parse(text));
        Assert.Throws<ArgumentException>(() => new HubRepository("org/name", text[(text.IndexOf('@') + 1)..]));
    }

    [Fact]
    public void ARefFileThatPointsOutsideTheCacheIsRefused()
    {
        var refs = Path.Combine(_cache, "models--nfnet-tests--tiny-nfnet", "refs");
        Directory.CreateDirectory(refs);
        File.WriteAllText(Path.Combine(refs, "main"), "../../../victim.txt");
        using var hub = Hub();
        using var client = Client(hub);
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse(Repo), "model.safetensors"));
        Assert.Contains("not a commit hash", error.Message);
        Assert.Empty(hub.Requests);                                       // refused from the cache, before the network
        Assert.Equal("precious", File.ReadAllText(_victim));
    }

    [Fact]
    public void AStalledBodyIsAbandonedAfterTheReadTimeout()
    {
        using var hub = Hub();
        hub.StallAfterBytes = 10;
        using var client = Client(hub, read: TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse(Repo), "model.safetensors"));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.9, 20);
        Assert.Contains("sent no byte", error.Message);
        Assert.Contains("/cdn/", error.Message);                          // the URL that stalled
        AssertNothingEscapedOrPublished();
    }

    [Fact]
    public void ATricklingBodyIsAbandonedAfterTheDownloadTimeout()
    {
        using var hub = Hub();
        hub.TrickleDelay = TimeSpan.FromMilliseconds(100);
        using var client = Client(hub, read: TimeSpan.FromSeconds(5), total: TimeSpan.FromSeconds(2));
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse(Repo), "model.safetensors"));
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.9, 20);
        Assert.Contains("took longer than", error.Message);
        AssertNothingEscapedOrPublished();
    }

    [Fact]
    public void MoreBytesThanAnnouncedAreNeverWritten()
    {
        using var hub = Hub();
        hub.ResolveHeaders["X-Linked-Size"] = (Bytes.Length - 100).ToString();
        using var client = Client(hub);
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse(Repo), "model.safetensors"));
        Assert.Contains($"more than the {Bytes.Length - 100} bytes", error.Message);
        AssertNothingEscapedOrPublished();
        Assert.Empty(Directory.GetFiles(_cache, "*", SearchOption.AllDirectories));   // the partial file is gone too
    }

    [Fact]
    public void AShortBodyIsAHubExceptionAfterTheResumesNotARawIOException()
    {
        using var hub = Hub();
        hub.ResolveHeaders["X-Linked-Size"] = (Bytes.Length + 100).ToString();
        using var client = Client(hub);
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse(Repo), "model.safetensors"));
        Assert.Contains($"of {Bytes.Length + 100} bytes", error.Message);
        Assert.Contains(hub.Endpoint, error.Message);
        AssertNothingEscapedOrPublished();
    }

    [Fact]
    public void ANonLfsFileIsCheckedAgainstItsGitBlobId()
    {
        using var hub = Hub(lfs: false);
        hub.CorruptBodies = true;
        using var client = Client(hub);
        var error = Assert.Throws<HubException>(() => client.Resolve(HubRepository.Parse(Repo), "model.safetensors"));
        Assert.Contains("git blob id", error.Message);
        AssertNothingEscapedOrPublished();
    }

    [Fact]
    public void ConcurrentResolvesOfOneFileDownloadItOnceAndAllGetIt()
    {
        using var hub = Hub();
        using var client = Client(hub);
        var repo = HubRepository.Parse(Repo);
        var paths = Enumerable.Range(0, 4).AsParallel().WithDegreeOfParallelism(4).Select(_ => client.Resolve(repo, "model.safetensors")).ToArray();
        Assert.Single(paths.Distinct());
        Assert.Equal(Bytes, File.ReadAllBytes(paths[0]));
        Assert.Single(hub.Requests, r => r.Method == "GET");
    }
}
