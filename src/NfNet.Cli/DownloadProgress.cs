using NfNet.Hub;

namespace NfNet.Cli;

/// <summary>The progress of a Hub download on standard error: one line rewritten in place on a terminal, a line per
/// tenth of the file when redirected.</summary>
internal sealed class DownloadProgress : IProgress<HubDownload>
{
    private long _lastShown = -1;
    private DateTime _lastTime = DateTime.MinValue;

    public void Report(HubDownload value)
    {
        var total = value.Size;
        var done = total is { } t && value.Downloaded >= t;
        var text = total is { } size
            ? $"  downloading {value.File}: {100.0 * value.Downloaded / Math.Max(1, size):F0} % ({value.Downloaded / 1e6:F1} / {size / 1e6:F1} MB)"
            : $"  downloading {value.File}: {value.Downloaded / 1e6:F1} MB";
        if (Console.IsErrorRedirected)
        {
            var tenth = total is { } s && s > 0 ? value.Downloaded * 10 / s : value.Downloaded >> 24;
            if (tenth == _lastShown && !done) return;
            _lastShown = tenth;
            Console.Error.WriteLine(text);
        }
        else
        {
            if (!done && DateTime.UtcNow - _lastTime < TimeSpan.FromMilliseconds(200)) return;
            _lastTime = DateTime.UtcNow;
            Console.Error.Write("\r" + text + (done ? Environment.NewLine : ""));
        }
    }
}
