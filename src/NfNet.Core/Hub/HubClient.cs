using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace NfNet.Hub;

/// <summary>
/// Fetches files of Hugging Face Hub repositories into the shared cache (<see cref="HubCache"/>), offline first: a cached
/// file is returned without any request, and with <see cref="HubSettings.Offline"/> the network is never used. Otherwise
/// it speaks the Hub's resolve protocol as <c>huggingface_hub</c> does: <c>HEAD {endpoint}/{repo}/resolve/{revision}/{file}</c>
/// without following redirects gives the commit (<c>X-Repo-Commit</c>), the blob's ETag (<c>X-Linked-Etag</c> for LFS
/// files, else <c>ETag</c>), its size and where the bytes are (<c>Location</c>); the body is downloaded to
/// <c>blobs/{etag}.incomplete</c>, resumed with <c>Range</c> after a dropped connection, checked against the size and —
/// for LFS files, whose ETag is the SHA-256 — against the hash, and only then published atomically.
/// </summary>
/// <remarks>The server is not trusted: a commit must be 40 hex digits and an ETag a SHA-256 or git SHA-1 before either
/// names a path; no more bytes than announced are written (at most <see cref="HubSettings.MaxUnannouncedBytes"/> when
/// none are); every body is checked against its ETag (SHA-256, or git's blob SHA-1); a body that stalls for
/// <see cref="HubSettings.ReadTimeout"/> or takes longer than <see cref="HubSettings.DownloadTimeout"/> is abandoned;
/// and every failure is a <see cref="HubException"/> naming the URL (never the token). One client may be used from
/// several threads: concurrent requests for one blob in this process download it once.</remarks>
public sealed partial class HubClient : IDisposable
{
    private const int Attempts = 3;
    private const int MaxRedirects = 5;
    private readonly HttpClient _http;
    private readonly HubCache _cache;

    /// <summary>A client for <paramref name="settings"/> (default: the environment's); <paramref name="handler"/> for tests.</summary>
    public HubClient(HubSettings? settings = null, HttpMessageHandler? handler = null)
    {
        Settings = settings ?? HubSettings.FromEnvironment();
        _cache = new HubCache(Settings.CacheDirectory);
        _http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Settings.Timeout,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("NfNet.NET", typeof(HubClient).Assembly.GetName().Version?.ToString() ?? "0"));
    }

    /// <summary>The settings in use.</summary>
    public HubSettings Settings { get; }

    /// <summary>The cache in use.</summary>
    public HubCache Cache => _cache;

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    // One download of a blob at a time in this process; the others then find it published.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, object> s_blobLocks = new(StringComparer.Ordinal);

    /// <summary>The local path of <paramref name="file"/> in <paramref name="repository"/>, downloading it once when
    /// allowed.</summary>
    /// <exception cref="HubException">Not cached and offline; refused (401, 403: gated, private or a bad token; 404: no
    /// such repository, revision or file); the network failed; or the body does not match its size or hash. Nothing
    /// half-written is published.</exception>
    public string Resolve(HubRepository repository, string file, IProgress<HubDownload>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        HubCache.CheckFileName(file);
        if (_cache.TryFind(repository, file) is { } cached) return cached;
        if (Settings.Offline)
            throw new HubException($"'{file}' of {repository} is not in the Hugging Face cache at {_cache.RepositoryFolder(repository)}, and HF_HUB_OFFLINE " +
                $"forbids downloading it: unset HF_HUB_OFFLINE, or fetch it where there is a network (`huggingface-cli download {repository.Id} {file}`, or " +
                $"timm.create_model(..., pretrained=True)) into the same cache (HF_HUB_CACHE / HF_HOME)");
        var url = new Uri($"{Settings.Endpoint}/{repository.Id}/resolve/{Uri.EscapeDataString(repository.Revision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");
        try
        {
            return Download(url, repository, file, progress, cancellation);
        }
        catch (HttpRequestException e)
        {
            throw new HubException($"cannot reach {Settings.Endpoint} for '{file}' of {repository} ({url}): {e.Message}. Cached files are used without the network " +
                "(HF_HUB_OFFLINE=1 makes that explicit); HF_ENDPOINT names a mirror", null, e);
        }
        catch (OperationCanceledException e) when (!cancellation.IsCancellationRequested)
        {
            throw new HubException($"{Settings.Endpoint} did not answer within {Settings.Timeout.TotalSeconds:F0} s for '{file}' of {repository} ({url})", null, e);
        }
        catch (IOException e) when (e is not HubException)
        {
            throw new HubException($"downloading '{file}' of {repository} ({url}) failed: {e.Message}; nothing was published", null, e);
        }
    }

    private string Download(Uri url, HubRepository repository, string file, IProgress<HubDownload>? progress, CancellationToken cancellation)
    {
        var (commit, etag, size, location) = Head(url, repository, file, cancellation);
        var blob = _cache.BlobPath(repository, etag);
        lock (s_blobLocks.GetOrAdd(blob, _ => new object()))
        {
            if (File.Exists(blob) && (size is null || new FileInfo(blob).Length == size))
                return _cache.Publish(repository, commit, etag, file); // the bytes are cached under another revision
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            var incomplete = blob + ".incomplete";
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            deadline.CancelAfter(Settings.DownloadTimeout);   // all attempts together
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    Fetch(location, incomplete, size, file, progress, deadline, cancellation);
                    break;
                }
                catch (IOException e) when (e is not HubException && attempt < Attempts && !cancellation.IsCancellationRequested)
                {
                    // A dropped connection: resume from the bytes on disk.
                }
                catch (HttpRequestException) when (attempt < Attempts && !cancellation.IsCancellationRequested)
                {
                }
            }
            Check(incomplete, etag, size, repository, file, location);
            return _cache.Publish(repository, commit, etag, file, incomplete);
        }
    }

    private (string Commit, string Etag, long? Size, Uri Location) Head(Uri url, HubRepository repository, string file, CancellationToken cancellation)
    {
        for (var hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = Request(HttpMethod.Head, url);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            using var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
            Refuse(response, repository, file);
            var commit = Header(response, "X-Repo-Commit");
            var etag = Normalize(Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag"));
            var location = response.Headers.Location is { } l ? new Uri(url, l) : url;
            var redirect = (int)response.StatusCode is >= 300 and < 400;
            if (redirect && commit is null)
            {
                url = location; // a renamed repository: the Hub redirects to its new name first
                continue;
            }
            if (commit is null || etag is null)
                throw new HubException($"{Settings.Endpoint} answered for '{file}' of {repository} ({url}) without the commit or ETag headers of the Hub's resolve protocol " +
                    "(is HF_ENDPOINT a Hugging Face Hub or mirror?)", (int)response.StatusCode);
            if (!HubRepository.IsCommit(commit))
                throw new HubException($"{url} answered with X-Repo-Commit '{Shorten(commit)}', not a commit hash (40 hex digits): refused, nothing was written", (int)response.StatusCode);
            if (!HubCache.IsBlobName(etag))
                throw new HubException($"{url} answered with ETag '{Shorten(etag)}', not a SHA-256 or git SHA-1 in hex: refused, nothing was written", (int)response.StatusCode);
            var size = long.TryParse(Header(response, "X-Linked-Size"), out var linked) ? linked : response.Content.Headers.ContentLength;
            if (size is < 0) throw new HubException($"{url} announced a size of {size} bytes: refused", (int)response.StatusCode);
            return (commit, etag, size, location);
        }
        throw new HubException($"more than {MaxRedirects} redirects for '{file}' of {repository}");
    }

    private void Fetch(Uri location, string incomplete, long? size, string file, IProgress<HubDownload>? progress, CancellationTokenSource deadline, CancellationToken cancellation)
    {
        var have = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
        if (size is { } total && have == total) return;
        if (size is { } expected && have > expected)
        {
            File.Delete(incomplete);
            have = 0;
        }
        var url = location;
        for (var hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = Request(HttpMethod.Get, url);
            if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
            using var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } next)
            {
                url = new Uri(url, next);
                continue;
            }
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            {
                File.Delete(incomplete); // the partial file is not a prefix of this blob: start again
                have = 0;
                continue;
            }
            Refuse(response, null, file);
            var append = response.StatusCode == HttpStatusCode.PartialContent;
            if (!append) have = 0;
            var limit = size ?? Math.Min(Settings.MaxUnannouncedBytes, response.Content.Headers.ContentLength is { } announced ? have + announced : long.MaxValue);
            using var body = response.Content.ReadAsStream(cancellation);
            using var target = new FileStream(incomplete, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            var buffer = new byte[1 << 20];
            int n;
            while ((n = ReadWithin(body, buffer, deadline, cancellation, url, file, have)) > 0)
            {
                if (have + n > limit)
                {
                    target.Dispose();
                    File.Delete(incomplete);
                    throw new HubException($"{url} sent more than the {limit} bytes " + (size is null ? "accepted for a file of unannounced size" : "it announced") +
                        $" for '{file}': refused, nothing was published");
                }
                target.Write(buffer, 0, n);
                have += n;
                progress?.Report(new HubDownload(file, have, size));
            }
            target.Flush(flushToDisk: true);
            if (size is { } expected2 && have < expected2)
                throw new IOException($"the connection closed after {have} of {expected2} bytes");
            return;
        }
        throw new HubException($"more than {MaxRedirects} redirects while downloading '{file}'");
    }

    // One read of the body: abandoned after ReadTimeout without a byte, or when the whole download's time is up.
    private int ReadWithin(Stream body, byte[] buffer, CancellationTokenSource deadline, CancellationToken caller, Uri url, string file, long have)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
        idle.CancelAfter(Settings.ReadTimeout);
        try
        {
            return body.ReadAsync(buffer, idle.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e)
        {
            caller.ThrowIfCancellationRequested(); // the caller's own cancellation stays a cancellation
            throw new HubException(deadline.IsCancellationRequested
                ? $"downloading '{file}' from {url} took longer than {Settings.DownloadTimeout.TotalSeconds:F0} s (HubSettings.DownloadTimeout) after {have} bytes: abandoned, nothing was published"
                : $"{url} sent no byte of '{file}' for {Settings.ReadTimeout.TotalSeconds:F0} s after {have} bytes (HubSettings.ReadTimeout, HF_HUB_DOWNLOAD_TIMEOUT): abandoned, nothing was published", null, e);
        }
    }

    private static void Check(string incomplete, string etag, long? size, HubRepository repository, string file, Uri url)
    {
        var length = new FileInfo(incomplete).Length;
        if (size is { } expected && length != expected)
        {
            File.Delete(incomplete);
            throw new HubException($"'{file}' of {repository} ({url}): downloaded {length} bytes, the Hub announced {expected}; nothing was published");
        }
        // LFS files are named by their SHA-256, the others by git's blob id: SHA-1 of "blob {size}\0" and the bytes.
        string actual;
        var kind = Sha256Pattern().IsMatch(etag) ? "SHA-256" : "git blob id (SHA-1)";
        using (var stream = File.OpenRead(incomplete))
        {
            if (Sha256Pattern().IsMatch(etag)) actual = Convert.ToHexStringLower(SHA256.HashData(stream));
            else
            {
                using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
                sha1.AppendData(System.Text.Encoding.ASCII.GetBytes($"blob {length}\0"));
                var chunk = new byte[1 << 20];
                int n;
                while ((n = stream.Read(chunk, 0, chunk.Length)) > 0) sha1.AppendData(chunk, 0, n);
                actual = Convert.ToHexStringLower(sha1.GetHashAndReset());
            }
        }
        if (actual != etag)
        {
            File.Delete(incomplete);
            throw new HubException($"'{file}' of {repository} ({url}): the downloaded bytes have {kind} {actual}, the Hub's ETag says {etag}: the body was corrupted " +
                "in transit or by a proxy; nothing was published (run again to download it afresh)");
        }
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";

    private HttpRequestMessage Request(HttpMethod method, Uri url)
    {
        var request = new HttpRequestMessage(method, url);
        // The token goes to the endpoint's host only, never to a CDN a download is redirected to.
        if (Settings.Token is { } token && Uri.TryCreate(Settings.Endpoint, UriKind.Absolute, out var endpoint) &&
            string.Equals(endpoint.Host, url.Host, StringComparison.OrdinalIgnoreCase) && endpoint.Port == url.Port)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private void Refuse(HttpResponseMessage response, HubRepository? repository, string file)
    {
        var status = (int)response.StatusCode;
        if (status is >= 200 and < 400) return;
        var what = repository is null ? $"'{file}'" : $"'{file}' of {repository}";
        throw status switch
        {
            401 or 403 => new HubException($"{Settings.Endpoint} refused {what} ({status}): the repository is gated or private, or the token is not " +
                (Settings.Token is null ? "set (set HF_TOKEN to a token with access)" : "allowed to read it (check HF_TOKEN)"), status),
            404 => new HubException($"{Settings.Endpoint} has no {what} ({status}): check the repository id, the revision and the file name", status),
            _ => new HubException($"{Settings.Endpoint} answered {status} {response.ReasonPhrase} for {what}", status),
        };
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault()
        : response.Content.Headers.TryGetValues(name, out var content) ? content.FirstOrDefault() : null;

    // ETags arrive quoted and sometimes weak (W/"…"): huggingface_hub strips both.
    private static string? Normalize(string? etag) => etag is null ? null : etag.StartsWith("W/", StringComparison.Ordinal) ? etag[2..].Trim('"') : etag.Trim('"');

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
