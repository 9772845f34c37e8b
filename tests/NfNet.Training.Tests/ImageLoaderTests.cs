using NfNet.Training.Data;
using NfNet.Training.Images;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>The parallel loader: same batches for any number of workers, sharding, bad files, early exit, and the
/// TorchSharp data conventions both ways.</summary>
public class ImageLoaderTests
{
    private static ImagePipeline TrainPipeline => ImagePipeline.Train(24, new NfNet.Models.RandAugmentSetting(2, 9));

    private static List<(float[] Images, long[] Labels)> Collect(IDataSource source, int batch, bool shuffle, int seed, bool dropLast = false)
    {
        var result = new List<(float[], long[])>();
        foreach (var (images, labels) in source.Batches(batch, shuffle, seed, dropLast))
        {
            using (images)
            using (labels)
                result.Add((images.data<float>().ToArray(), labels.data<long>().ToArray()));
        }
        return result;
    }

    [Fact]
    public void BatchesAreTheSameForAnyNumberOfWorkers()
    {
        var set = new ImageFolderDataset(ImageFixture.Train);
        var reference = Collect(new ImageDataSource(set, TrainPipeline, new ImageLoaderOptions { Workers = 0 }), 5, true, 3);
        Assert.Equal(5, reference.Count); // 24 samples: 4 full batches and one of 4
        Assert.Equal(4, reference[^1].Labels.Length);
        foreach (var workers in new[] { 1, 2, 4 })
        {
            var batches = Collect(new ImageDataSource(set, TrainPipeline, new ImageLoaderOptions { Workers = workers, PrefetchBatches = 2 }), 5, true, 3);
            Assert.Equal(reference.Count, batches.Count);
            for (var k = 0; k < batches.Count; k++)
            {
                Assert.Equal(reference[k].Labels, batches[k].Labels);
                Assert.Equal(reference[k].Images, batches[k].Images);
            }
        }
        // Another epoch seed gives another order and other augmentations; drop_last drops the short batch.
        Assert.NotEqual(reference[0].Images, Collect(new ImageDataSource(set, TrainPipeline), 5, true, 4)[0].Images);
        Assert.Equal(4, Collect(new ImageDataSource(set, TrainPipeline), 5, true, 3, dropLast: true).Count);
    }

    [Fact]
    public void LabelsFollowTheFilesAndUnshuffledOrderIsTheDatasets()
    {
        var set = new ImageFolderDataset(ImageFixture.Val);
        var batches = Collect(new ImageDataSource(set, ImagePipeline.Eval(28, 1.0, channels: ChannelPolicy.Grey, mean: new[] { 0.0 }, std: new[] { 1.0 })), 12, false, 0);
        Assert.Equal(set.Samples.Select(s => (long)s.Label), batches.SelectMany(b => b.Labels));
        // Eval at 28 px with crop 1 is the identity: the first grey PNG comes back as its IDX pixels / 255.
        var first = set.Samples[0];
        var expected = ImageFixture.Pixels(ImageFixture.IndexOf(first.Path));
        for (var i = 0; i < 784; i++) Assert.Equal(expected[i] / 255f, batches[0].Images[i], 1e-6f);
    }

    [Fact]
    public void RanksReadDisjointShardsWithEqualSteps()
    {
        var set = new ImageFolderDataset(ImageFixture.Train);
        var pipeline = ImagePipeline.Eval(16, channels: ChannelPolicy.Grey);
        var whole = Collect(new ImageDataSource(set, pipeline), 24, true, 9).Single();
        var seen = new List<float[]>();
        for (var rank = 0; rank < 3; rank++)
        {
            var source = new ImageDataSource(set, pipeline, new ImageLoaderOptions { Shard = new DataShard(rank, 3) });
            Assert.Equal(8, source.Count);
            var batches = Collect(source, 4, true, 9);
            Assert.Equal(2, batches.Count);
            seen.AddRange(batches.SelectMany(b => b.Images.Chunk(256)));
        }
        // Together the ranks read exactly the images of the whole epoch.
        var all = whole.Images.Chunk(256).Select(c => string.Join(',', c)).Order();
        Assert.Equal(all, seen.Select(c => string.Join(',', c)).Order());
    }

    [Fact]
    public void BadFilesRaiseByDefaultAndAreCountedWhenSkipped()
    {
        var root = ImageFixture.CopyTrain();
        try
        {
            foreach (var bad in Directory.GetFiles(ImageFixture.Damaged))
                File.Copy(bad, Path.Combine(root, "1_Trouser", "zz-" + Path.GetFileName(bad)));
            var set = new ImageFolderDataset(root);
            Assert.Equal(29, set.Samples.Count);
            var pipeline = ImagePipeline.Eval(20, channels: ChannelPolicy.Grey);
            var e = Assert.Throws<ImageDecodeException>(() => Collect(new ImageDataSource(set, pipeline), 8, false, 0));
            Assert.Contains("zz-", e.FilePath);

            var skipping = new ImageDataSource(set, pipeline, new ImageLoaderOptions { SkipUnreadable = true });
            var batches = Collect(skipping, 8, false, 0);
            Assert.Equal(5, skipping.SkippedSamples);
            Assert.Equal(24, batches.Sum(b => b.Labels.Length));
            Assert.Equal(set.Samples.Where(s => !s.Path.Contains("zz-")).Select(s => (long)s.Label), batches.SelectMany(b => b.Labels));
            Assert.All(skipping.SkippedFiles, f => Assert.Contains("zz-", f));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void LeavingEarlyOrCancellingStopsTheWorkers()
    {
        var set = new ImageFolderDataset(ImageFixture.Train);
        var source = new ImageDataSource(set, TrainPipeline, new ImageLoaderOptions { Workers = 2, PrefetchBatches = 1 });
        foreach (var (images, labels) in source.Batches(2, true, 0))
        {
            images.Dispose();
            labels.Dispose();
            Assert.Equal(2, source.ActiveWorkers);
            break; // the enumerator's finally joins the workers: no thread is left blocked on the full read-ahead
        }
        Assert.Equal(0, source.ActiveWorkers);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var cancelled = new ImageDataSource(set, TrainPipeline, new ImageLoaderOptions { Cancellation = cancel.Token });
        Assert.ThrowsAny<OperationCanceledException>(() => Collect(cancelled, 4, false, 0));
    }

    [Fact]
    public void TorchSharpDataLoaderAndTrainerInteroperate()
    {
        var set = new ImageFolderDataset(ImageFixture.Val);
        var pipeline = ImagePipeline.Eval(16, channels: ChannelPolicy.Grey);
        var ours = Collect(new ImageDataSource(set, pipeline), 4, false, 0);
        // Our data set in TorchSharp's DataLoader: the same tensors, batch by batch.
        using var dataset = new ImageTorchDataset(set, pipeline);
        using var loader = torch.utils.data.DataLoader(dataset, 4, shuffle: false);
        var k = 0;
        foreach (var batch in loader)
        {
            using var scope = NewDisposeScope();
            Assert.Equal(new long[] { 4, 1, 16, 16 }, batch["data"].shape);
            Assert.Equal(ours[k].Images, batch["data"].data<float>().ToArray());
            Assert.Equal(ours[k].Labels, batch["label"].reshape(-1).data<long>().ToArray());
            k++;
        }
        Assert.Equal(3, k);
        // Any TorchSharp dataset feeds our batches (and so the trainer).
        var wrapped = Collect(new TorchDatasetSource(dataset), 4, false, 0);
        Assert.Equal(ours.Select(b => b.Labels), wrapped.Select(b => b.Labels));
        Assert.Equal(ours[1].Images, wrapped[1].Images);
    }
}
