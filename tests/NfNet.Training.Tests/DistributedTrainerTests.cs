using NfNet.Distributed;
using NfNet.Models;
using NfNet.Training.Checkpoints;
using NfNet.Training.Data;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>The trainer's data-parallel rules that one process can check (the multi-rank runs are in
/// NfNet.Distributed.Tests, under mpirun).</summary>
public class DistributedTrainerTests
{
    private static NFNetConfig Small => FashionMnistRecipe.Model(32);

    [Fact]
    public void ACheckpointOfAnotherWorldSizeIsRefusedWithTheCommandToUse()
    {
        var path = Path.Combine(Path.GetTempPath(), $"nfnet-world-{Guid.NewGuid():N}.nfckpt");
        try
        {
            manual_seed(0);
            using var model = new NFNet(Small);
            using var trainer = new Trainer(model, FashionMnistRecipe.Options(1, 8));
            TrainingCheckpoint.Save(path, model, trainer.Optimizer, null, new CheckpointInfo(1, 5, 0, "m", WorldSize: 2));
            var e = Assert.Throws<RankMismatchException>(() => trainer.Resume(path));
            Assert.Contains("written by a run of 2 rank(s)", e.Message);
            Assert.Contains("mpirun -np 2", e.Message);
            Assert.Equal(0, trainer.Step);
            // A checkpoint of one process (the default) resumes as before.
            TrainingCheckpoint.Save(path, model, trainer.Optimizer, null, new CheckpointInfo(1, 5, 0, "m"));
            Assert.Equal(5, trainer.Resume(path).Step);
        }
        finally
        {
            foreach (var f in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(path) + "*")) File.Delete(f);
            if (File.Exists(path)) File.Delete(path);
        }
    }

    [Fact]
    public void AWorldOfOneTrainsExactlyAsWithoutACommunicator()
    {
        using var data = Slice.Train(256);
        double[] Run(ICommunicator? communicator)
        {
            manual_seed(3);
            using var model = new NFNet(Small);
            using var trainer = new Trainer(model, FashionMnistRecipe.Options(1, 64) with { Communicator = communicator, MaxSteps = 3 });
            Assert.Equal((0, 1, 64), (trainer.Rank, trainer.WorldSize, trainer.BatchPerRank));
            trainer.Fit(data);
            return model.parameters().SelectMany(p => p.detach().reshape(-1).to(ScalarType.Float64).data<double>().ToArray()).ToArray();
        }
        Assert.Equal(Run(null), Run(new SingleProcessCommunicator()));
    }

    [Fact]
    public void SourcesShardWithDistributedSamplerSemantics()
    {
        using var data = Slice.Test(10);
        var parts = Enumerable.Range(0, 3).Select(r => data.WithShard(new DataShard(r, 3))).ToList();
        Assert.All(parts, p => Assert.Equal(4, p.Count)); // ceil(10 / 3), padded
        // Every image of the set is read by some rank in the epoch; 12 − 10 = 2 are read twice (the padding).
        string Key(TorchSharp.torch.Tensor image) => string.Join(',', image.data<float>().ToArray());
        var read = parts.SelectMany(p => p.Batches(4, shuffle: true, seed: 2).SelectMany(b => Enumerable.Range(0, (int)b.Images.shape[0]).Select(i => Key(b.Images[i])))).ToList();
        var all = Enumerable.Range(0, 10).Select(i => Key(data.Images[i])).ToHashSet();
        Assert.Equal(10, all.Count); // ten different images
        Assert.Equal(12, read.Count);
        Assert.True(all.SetEquals(read));
        var unpadded = Enumerable.Range(0, 3).Select(r => data.WithShard(new DataShard(r, 3) { Pad = false }).Count).ToArray();
        Assert.Equal(new long[] { 4, 3, 3 }, unpadded);
    }
}
