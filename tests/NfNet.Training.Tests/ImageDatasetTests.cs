using NfNet.Training.Data;
using NfNet.Training.Images;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>ImageFolder and list-file indexing: torchvision's semantics, and typed errors before training.</summary>
public class ImageDatasetTests
{
    [Fact]
    public void FolderFollowsImageFolderSemantics()
    {
        var set = new ImageFolderDataset(ImageFixture.Train);
        Assert.Equal(new[] { "0_T-shirt-top", "1_Trouser", "7_Sneaker" }, set.Classes);
        Assert.Equal(1, set.ClassToIndex["1_Trouser"]);
        Assert.Equal(24, set.Samples.Count);
        Assert.All(set.Samples, s => Assert.Equal(set.Classes[s.Label], Path.GetFileName(Path.GetDirectoryName(s.Path))));
        // Sorted by class, then by path.
        Assert.Equal(set.Samples.OrderBy(s => s.Label).ThenBy(s => s.Path, StringComparer.Ordinal), set.Samples);
    }

    [Fact]
    public void NestedFoldersCountAndOtherExtensionsDoNot()
    {
        var root = ImageFixture.CopyTrain();
        try
        {
            var nested = Path.Combine(root, "7_Sneaker", "more", "deeper");
            Directory.CreateDirectory(nested);
            File.Copy(Directory.GetFiles(Path.Combine(root, "7_Sneaker"), "*.png")[0], Path.Combine(nested, "x.PNG"));
            File.WriteAllText(Path.Combine(root, "7_Sneaker", "notes.txt"), "not an image");
            File.WriteAllText(Path.Combine(root, "stray.jpg"), "files in the root are ignored");
            var set = new ImageFolderDataset(root);
            Assert.Equal(25, set.Samples.Count);
            Assert.Contains(set.Samples, s => s.Path.EndsWith("x.PNG", StringComparison.Ordinal) && s.Label == 2);
            Assert.DoesNotContain(set.Samples, s => s.Path.EndsWith(".txt", StringComparison.Ordinal));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void EmptyClassesAndMissingFoldersAreRefusedByName()
    {
        var root = ImageFixture.CopyTrain();
        try
        {
            var empty = Path.Combine(root, "9_Ankle-boot");
            Directory.CreateDirectory(empty);
            File.WriteAllText(Path.Combine(empty, "readme.txt"), "no images here");
            var e = Assert.Throws<ImageDatasetException>(() => new ImageFolderDataset(root));
            Assert.Equal(empty, e.Location);
            Assert.Contains("no image files", e.Problem);
        }
        finally { Directory.Delete(root, true); }
        Assert.Contains("does not exist", Assert.Throws<ImageDatasetException>(() => new ImageFolderDataset("/nonexistent/images")).Problem);
        var flat = Path.Combine(Path.GetTempPath(), "nfnet-flat-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(flat);
        try { Assert.Contains("no class subfolders", Assert.Throws<ImageDatasetException>(() => new ImageFolderDataset(flat)).Problem); }
        finally { Directory.Delete(flat, true); }
    }

    private static string ListFile(string name, params string[] lines)
    {
        var path = Path.Combine(ImageFixture.Root, $"list-{Guid.NewGuid():N}-{name}");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void ListFilesReadPathsAndLabels()
    {
        var csv = ListFile("a.csv", "path,label", "train/1_Trouser/00002.png,1", "train/7_Sneaker/00009.png,2", "", "# a comment", "val/0_T-shirt-top/00113.png,0");
        var tsv = ListFile("b.tsv", "train/1_Trouser/00002.png\ttrouser", "train/7_Sneaker/00009.png\tsneaker");
        try
        {
            var set = new ImageListDataset(csv);
            Assert.Equal(3, set.Samples.Count);
            Assert.Equal(new[] { "0", "1", "2" }, set.Classes);
            Assert.Equal(new[] { 1, 2, 0 }, set.Samples.Select(s => s.Label));
            Assert.Equal(Path.Combine(ImageFixture.Root, "train", "1_Trouser", "00002.png"), set.Samples[0].Path);
            var named = new ImageListDataset(tsv);
            Assert.Equal(new[] { "sneaker", "trouser" }, named.Classes); // names sorted ordinally
            Assert.Equal(new[] { 1, 0 }, named.Samples.Select(s => s.Label));
        }
        finally { File.Delete(csv); File.Delete(tsv); }
    }

    [Fact]
    public void ListFileErrorsNameTheLine()
    {
        var missing = ListFile("m.csv", "train/1_Trouser/00002.png,1", "train/1_Trouser/nope.png,1");
        var range = ListFile("r.csv", "train/1_Trouser/00002.png,1", "train/7_Sneaker/00009.png,5");
        var malformed = ListFile("x.csv", "train/1_Trouser/00002.png");
        try
        {
            var e = Assert.Throws<ImageDatasetException>(() => new ImageListDataset(missing));
            Assert.Equal($"{missing}:2", e.Location);
            Assert.Contains("does not exist", e.Problem);
            e = Assert.Throws<ImageDatasetException>(() => new ImageListDataset(range, classes: new[] { "a", "b", "c" }));
            Assert.Equal($"{range}:2", e.Location);
            Assert.Contains("outside the class range 0..2", e.Problem);
            Assert.Equal($"{malformed}:1", Assert.Throws<ImageDatasetException>(() => new ImageListDataset(malformed)).Location);
        }
        finally { File.Delete(missing); File.Delete(range); File.Delete(malformed); }
    }

    [Theory]
    [InlineData(10, 1)]
    [InlineData(10, 2)]
    [InlineData(11, 2)]
    [InlineData(13, 4)]
    [InlineData(3, 4)]
    public void ShardsCoverEverySampleOncePerEpoch(int count, int world)
    {
        var perRank = (count + world - 1) / world;
        var all = new List<int>();
        for (var rank = 0; rank < world; rank++)
        {
            var shard = new DataShard(rank, world);
            Assert.Equal(perRank, shard.CountFor(count));
            var indices = shard.Indices(count, shuffle: true, seed: 5);
            Assert.Equal(perRank, indices.Length);
            all.AddRange(indices);
        }
        Assert.Equal(Enumerable.Range(0, count), all.Distinct().Order());
        Assert.Equal(perRank * world - count, all.Count - all.Distinct().Count()); // only the padding repeats
        // Every rank draws the same permutation: rank r's i-th sample is position r + i·W of it.
        var order = DataShard.Single.Indices(count, true, 5);
        Assert.Equal(order[world == 1 ? 0 : 1 % count], new DataShard(world == 1 ? 0 : 1, world).Indices(count, true, 5)[0]);
    }

    [Fact]
    public void ShardValuesAreChecked()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataShard(2, 2).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataShard(0, 0).Validate());
    }
}
