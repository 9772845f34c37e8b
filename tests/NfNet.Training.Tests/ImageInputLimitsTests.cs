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
    public void LinksThatLoopOrRepeatAddNoFileTwiceAndNoFileToAnotherClass()
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

        var index = Task.Run(() => new ImageFolderDataset(root));
        Assert.True(index.Wait(TimeSpan.FromMinutes(1)), "indexing did not finish: a link cycle");
        var data = index.Result;
        Assert.Equal(new[] { "a", "b" }, data.Classes);
        Assert.Equal(new[] { "a0.png", "a1.png", "a2.png" }, data.Samples.Where(s => s.Label == 0).Select(s => Path.GetFileName(s.Path)).Order());
        var b = data.Samples.Where(s => s.Label == 1).Select(s => Path.GetFileName(s.Path)).Order().ToArray();
        Assert.Equal(new[] { "b0.png", "b1.png", "b2.png", "e0.png", "e1.png" }, b);              // the linked folder once
    }

    [Fact]
    public void AFifoAndALinkToDevZeroNamedLikeImagesAreRefusedByNameAtOnce()
    {
        var fifo = Path.Combine(_dir, "f.png");
        using (var mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        var zero = Path.Combine(_dir, "z.png");
        File.CreateSymbolicLink(zero, "/dev/zero");
        var read = Task.Run(() => Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(fifo, ChannelPolicy.Rgb)));
        Assert.True(read.Wait(TimeSpan.FromSeconds(30)), "reading a FIFO named f.png hung");
        Assert.Contains("FIFO", read.Result.Message);
        Assert.Contains("f.png", read.Result.Message);
        var device = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(zero, ChannelPolicy.Rgb));
        Assert.Contains("character device", device.Message);
        Assert.Contains("z.png", device.Message);
        Assert.Contains("no such file", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(Path.Combine(_dir, "missing.png"), ChannelPolicy.Rgb)).Message);
    }
}
