using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace NfNet.Tests.Hub;

/// <summary>
/// A Hugging Face Hub on 127.0.0.1 for the tests, speaking the resolve protocol as the Hub does: <c>HEAD/GET
/// /{repo}/resolve/{revision}/{file}</c> answers with <c>X-Repo-Commit</c> and the ETag; an LFS file's answer is a 302 to
/// <c>/cdn/{sha256}</c> carrying <c>X-Linked-Etag</c> (its SHA-256) and <c>X-Linked-Size</c>, and the CDN honours
/// <c>Range</c>. Faults on demand: a connection dropped after N body bytes, a corrupted body, a token required.
/// </summary>
internal sealed class LoopbackHub : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Dictionary<string, (string Commit, Dictionary<string, (byte[] Bytes, bool Lfs)> Files)> _repos = new();

    public LoopbackHub()
    {
        _listener.Start();
        Endpoint = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _loop = Task.Run(Serve);
    }

    public string Endpoint { get; }

    /// <summary>Every request: method, path, Range header, whether an Authorization header came.</summary>
    public ConcurrentQueue<(string Method, string Path, string? Range, string? Authorization)> Requests { get; } = new();

    /// <summary>The next CDN GET closes the connection after this many body bytes (once).</summary>
    public long? DropAfterBytes { get; set; }

    /// <summary>Flip one byte of every body served.</summary>
    public bool CorruptBodies { get; set; }

    /// <summary>The host name the LFS redirects point at (<c>localhost</c>: another host name for the same loopback
    /// server, as the Hub's CDN is another host).</summary>
    public string? CdnHost { get; set; }

    /// <summary>Headers that replace the resolve answer's own (a hostile mirror's ETag, commit or size).</summary>
    public Dictionary<string, string> ResolveHeaders { get; } = new();

    /// <summary>Body GETs send this many bytes and then nothing until the server stops.</summary>
    public long? StallAfterBytes { get; set; }

    /// <summary>Body GETs send one byte at a time, this long apart.</summary>
    public TimeSpan? TrickleDelay { get; set; }

    /// <summary>Refuse requests without <c>Authorization: Bearer {token}</c> with 401.</summary>
    public string? RequiredToken { get; set; }

    public void Add(string repo, string commit, string file, byte[] bytes, bool lfs = true)
    {
        if (!_repos.TryGetValue(repo, out var r)) _repos[repo] = r = (commit, new());
        r.Files[file] = (bytes, lfs);
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    // git's blob id: sha1("blob {size}\0" + bytes), the ETag the Hub gives non-LFS files.
    public static string GitBlobId(byte[] bytes) =>
        Convert.ToHexStringLower(SHA1.HashData(Encoding.ASCII.GetBytes($"blob {bytes.Length}\0").Concat(bytes).ToArray()));

    private async Task Serve()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => Handle(client));
        }
    }

    private void Handle(TcpClient client)
    {
        using (client)
        using (var stream = client.GetStream())
        {
            try
            {
                var (method, path, headers) = ReadRequest(stream);
                headers.TryGetValue("range", out var range);
                headers.TryGetValue("authorization", out var auth);
                Requests.Enqueue((method, path, range, auth));
                Respond(stream, method, path, range, auth);
            }
            catch (IOException) { }
        }
    }

    private static (string Method, string Path, Dictionary<string, string> Headers) ReadRequest(NetworkStream stream)
    {
        var bytes = new List<byte>();
        while (bytes.Count < 4 || !(bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n'))
        {
            var b = stream.ReadByte();
            if (b < 0) throw new IOException("closed");
            bytes.Add((byte)b);
        }
        var lines = Encoding.ASCII.GetString(bytes.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var first = lines[0].Split(' ');
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        return (first[0], Uri.UnescapeDataString(first[1]), headers);
    }

    private void Respond(NetworkStream stream, string method, string path, string? range, string? auth)
    {
        if (RequiredToken is not null && auth != $"Bearer {RequiredToken}" && !path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            Write(stream, 401, "Unauthorized", new() { ["X-Error-Code"] = "GatedRepo" }, Array.Empty<byte>(), method);
            return;
        }
        if (path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            var sha = path["/cdn/".Length..];
            var blob = _repos.Values.SelectMany(r => r.Files.Values).FirstOrDefault(f => Sha256(f.Bytes) == sha).Bytes;
            if (blob is null) { Write(stream, 404, "Not Found", new(), Array.Empty<byte>(), method); return; }
            ServeBody(stream, blob, range, method);
            return;
        }
        var marker = path.IndexOf("/resolve/", StringComparison.Ordinal);
        if (marker < 0) { Write(stream, 404, "Not Found", new(), Array.Empty<byte>(), method); return; }
        var repo = path[1..marker];
        var rest = path[(marker + "/resolve/".Length)..];
        var slash = rest.IndexOf('/');
        var revision = rest[..slash];
        var file = rest[(slash + 1)..];
        if (!_repos.TryGetValue(repo, out var r) || (revision != "main" && revision != r.Commit) || !r.Files.TryGetValue(file, out var entry))
        {
            Write(stream, 404, "Not Found", new() { ["X-Error-Code"] = "EntryNotFound" }, Array.Empty<byte>(), method);
            return;
        }
        if (entry.Lfs)
        {
            var sha = Sha256(entry.Bytes);
            Write(stream, 302, "Found", Overridden(new()
            {
                ["Location"] = CdnHost is null ? $"/cdn/{sha}" : $"http://{CdnHost}:{((IPEndPoint)_listener.LocalEndpoint).Port}/cdn/{sha}", ["X-Repo-Commit"] = r.Commit, ["X-Linked-Etag"] = $"\"{sha}\"",
                ["X-Linked-Size"] = entry.Bytes.Length.ToString(), ["ETag"] = $"\"{GitBlobId(entry.Bytes)}\"",
            }), Array.Empty<byte>(), method);
            return;
        }
        var headers = Overridden(new Dictionary<string, string> { ["X-Repo-Commit"] = r.Commit, ["ETag"] = $"\"{GitBlobId(entry.Bytes)}\"" });
        if (method == "HEAD") { Write(stream, 200, "OK", headers, Array.Empty<byte>(), method, entry.Bytes.Length); return; }
        ServeBody(stream, entry.Bytes, range, method, headers);
    }

    private Dictionary<string, string> Overridden(Dictionary<string, string> headers)
    {
        foreach (var (k, v) in ResolveHeaders) headers[k] = v;
        return headers;
    }

    private void ServeBody(NetworkStream stream, byte[] blob, string? range, string method, Dictionary<string, string>? extra = null)
    {
        var body = (byte[])blob.Clone();
        if (CorruptBodies) body[body.Length / 2] ^= 0x5A;
        long start = 0;
        var headers = extra ?? new Dictionary<string, string>();
        var status = 200;
        if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal))
        {
            start = long.Parse(range["bytes=".Length..].TrimEnd('-'));
            headers["Content-Range"] = $"bytes {start}-{body.Length - 1}/{body.Length}";
            status = 206;
        }
        var slice = body[(int)start..];
        if (method == "GET" && StallAfterBytes is { } stall)
        {
            WriteHead(stream, status, "OK", headers, slice.Length);
            stream.Write(slice, 0, (int)stall);
            stream.Flush();
            _stop.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(60)); // then nothing: a stalled body
            return;
        }
        if (method == "GET" && TrickleDelay is { } delay)
        {
            WriteHead(stream, status, "OK", headers, slice.Length);
            foreach (var b in slice)
            {
                if (_stop.Token.WaitHandle.WaitOne(delay)) return;
                stream.WriteByte(b);
                stream.Flush();
            }
            return;
        }
        if (method == "GET" && DropAfterBytes is { } drop && drop < slice.Length)
        {
            DropAfterBytes = null;
            WriteHead(stream, status, status == 206 ? "Partial Content" : "OK", headers, slice.Length);
            stream.Write(slice, 0, (int)drop);
            stream.Flush();
            return; // the connection closes mid-body
        }
        Write(stream, status, status == 206 ? "Partial Content" : "OK", headers, slice, method);
    }

    private static void Write(NetworkStream stream, int status, string reason, Dictionary<string, string> headers, byte[] body, string method, long? length = null)
    {
        WriteHead(stream, status, reason, headers, length ?? body.Length);
        if (method != "HEAD") stream.Write(body);
        stream.Flush();
    }

    private static void WriteHead(NetworkStream stream, int status, string reason, Dictionary<string, string> headers, long length)
    {
        var sb = new StringBuilder($"HTTP/1.1 {status} {reason}\r\n");
        foreach (var (k, v) in headers) sb.Append($"{k}: {v}\r\n");
        sb.Append($"Content-Length: {length}\r\nConnection: close\r\n\r\n");
        stream.Write(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    public void Stop()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
    }
}
