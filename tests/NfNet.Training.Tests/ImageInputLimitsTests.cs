using System.Diagnostics;
using NfNet.Training.Images;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>
/// Image folders and files as they come: links that loop back up the tree or point twice at one folder, and special
/// files named like images (a FIFO, a link to <c>/dev/zero</c>). Indexing stays finite and labels stay right; reading
/// refuses the special files at once, by name.
/// </summary>
public sealed class ImageInputLimitsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-image-limits-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Touch(params string[] parts)
    {
        var path = Path.Combine(new[] { _dir }.Concat(parts).ToArray());
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[] { 1 });
        return path;
    }

    [Fact]
    public async Task LinksThatLoopOrRepeatAddNoFileTwiceAndNoFileToAnotherClass()
    {
        var root = Path.Combine(_dir, "images");
        for (var i = 0; i < 3; i++) { Touch("images", "a", $"a{i}.png"); Touch("images", "b", $"b{i}.png"); }
        Touch("elsewhere", "e0.png");
        Touch("elsewhere", "e1.png");
        Directory.CreateSymbolicLink(Path.Combine(root, "a", "loop"), "..");                       // back to the root
        Directory.CreateSymbolicLink(Path.Combine(root, "a", "again"), ".");                       // itself
        Directory.CreateSymbolicLink(Path.Combine(root, "a", "sibling"), Path.Combine(root, "b")); // another class
        Directory.CreateSymbolicLink(Path.Combine(root, "b", "linked"), Path.Combine(_dir, "elsewhere"));
        Directory.CreateSymbolicLink(Path.Combine(root, "b", "linked-twice"), Path.Combine(_dir, "elsewhere"));

        // A cycle would never finish: a time-out fails the test instead of hanging it.
        var data = await Task.Run(() => new ImageFolderDataset(root)).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(new[] { "a", "b" }, data.Classes);
        Assert.Equal(new[] { "a0.png", "a1.png", "a2.png" }, data.Samples.Where(s => s.Label == 0).Select(s => Path.GetFileName(s.Path)).Order());
        var b = data.Samples.Where(s => s.Label == 1).Select(s => Path.GetFileName(s.Path)).Order().ToArray();
        Assert.Equal(new[] { "b0.png", "b1.png", "b2.png", "e0.png", "e1.png" }, b);              // the linked folder once
    }

    [Fact]
    public async Task AFifoAndALinkToDevZeroNamedLikeImagesAreRefusedByNameAtOnce()
    {
        var fifo = Path.Combine(_dir, "f.png");
        using (var mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        var zero = Path.Combine(_dir, "z.png");
        File.CreateSymbolicLink(zero, "/dev/zero");
        // Opening a FIFO waits for a writer: a time-out (TimeoutException) fails the test instead of hanging it.
        var error = await Assert.ThrowsAsync<ImageDecodeException>(() => Task.Run(() => ImageDecoder.Decode(fifo, ChannelPolicy.Rgb)).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("FIFO", error.Message);
        Assert.Contains("f.png", error.Message);
        var device = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(zero, ChannelPolicy.Rgb));
        Assert.Contains("character device", device.Message);
        Assert.Contains("z.png", device.Message);
        Assert.Contains("no such file", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(Path.Combine(_dir, "missing.png"), ChannelPolicy.Rgb)).Message);
    }
}
