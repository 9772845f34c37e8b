using System.Diagnostics;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Training.Data;
using NfNet.Training.Images;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>From Fashion-MNIST as image files to a fine-tuned model: the folder writer, equivalence with the IDX tensors,
/// backbone loading with a reset classifier, a short fine-tune on the committed folder, and the demo's --images.</summary>
public class ImageFineTuneTests
{
    private static string Temp(string name) => Path.Combine(Path.GetTempPath(), $"nfnet-{name}-{Guid.NewGuid():N}");

    [Fact]
    public void PngFolderLoadsExactlyAsTheIdxTensors()
    {
        var folder = Temp("fm-png");
        try
        {
            var (train, test) = FashionMnistImageFolder.Write(Slice.Directory, folder, ImageFileFormat.Png, limit: 64);
            Assert.Equal((64, 64), (train, test));
            Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(folder)!, Path.GetFileName(folder) + ".partial*"));
            var set = new ImageFolderDataset(Path.Combine(folder, "test"));
            Assert.Equal(FashionMnistImageFolder.FolderNames, set.Classes);
            var pipeline = ImagePipeline.PaddedGrey(28, 2, FashionMnist.Mean, FashionMnist.Std);
            using var idx = Slice.Test(64);
            var images = new float[pipeline.SampleLength];
            foreach (var sample in set.Samples)
            {
                var i = int.Parse(Path.GetFileNameWithoutExtension(sample.Path));
                Assert.Equal(idx.Labels[i].ReadInt64(), sample.Label);
                pipeline.Load(sample.Path, new Random(0), images);
                var expected = idx.Images[i].reshape(-1).data<float>().ToArray();
                for (var p = 0; p < expected.Length; p++) Assert.Equal(expected[p], images[p], 1e-5f);
            }
            Assert.Throws<IOException>(() => FashionMnistImageFolder.Write(Slice.Directory, folder));
        }
        finally { if (Directory.Exists(folder)) Directory.Delete(folder, true); }
    }

    private static NFNetConfig Small(int classes, int width = 32) => FashionMnistRecipe.Model(width) with { NumClasses = classes };

    [Fact]
    public void BackboneLoadsAndTheClassifierIsResetForOtherClassCounts()
    {
        var file = Temp("weights") + ".safetensors";
        try
        {
            manual_seed(1);
            using var source = new NFNet(Small(10));
            source.SaveSafetensors(file);
            manual_seed(2);
            using var target = new NFNet(Small(3));
            var head = target.ClassifierParameters().Select(p => p.Parameter.clone()).ToList();
            var report = PretrainedWeights.LoadBackbone(target, file);
            var classifierNames = target.ClassifierParameters().Select(p => p.Name).ToHashSet();
            Assert.Equal(classifierNames.Order(), report.ShapeMismatched.Select(m => m.Split(':')[0]).Order());
            var sourceState = source.state_dict();
            foreach (var (name, value) in target.state_dict())
            {
                if (classifierNames.Contains(name)) continue;
                Assert.True(value.allclose(sourceState[name], 0, 0), $"{name} was not loaded");
            }
            // The classifier keeps its own initialisation.
            Assert.All(target.ClassifierParameters().Zip(head), p => Assert.True(p.First.Parameter.allclose(p.Second, 0, 0)));

            using var wider = new NFNet(Small(3, width: 48));
            var before = wider.parameters().First().clone();
            var e = Assert.Throws<StateDictMismatchException>(() => PretrainedWeights.LoadBackbone(wider, file));
            Assert.NotEmpty(e.ShapeMismatched);
            Assert.True(wider.parameters().First().allclose(before, 0, 0)); // unchanged
            PretrainedWeights.FreezeBackbone(target);
            Assert.All(target.named_parameters(), p => Assert.Equal(classifierNames.Contains(p.name), p.parameter.requires_grad));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void ShortFineTuneOnTheCommittedFolderLearnsItsClasses()
    {
        var checkpoint = Temp("pretrain") + ".nfckpt";
        try
        {
            // "Pretrain" on the 10-class IDX slice for 2 epochs, then fine-tune on the 3-class image folder.
            manual_seed(0);
            using (var pretrained = new NFNet(Small(10)))
            using (var data = Slice.Train(1024))
            {
                using var trainer = new Trainer(pretrained, FashionMnistRecipe.Options(2, 64) with { CheckpointPath = checkpoint });
                trainer.Fit(data);
            }
            manual_seed(0);
            using var model = new NFNet(Small(3));
            var report = PretrainedWeights.LoadBackbone(model, checkpoint); // our checkpoint: verified, model.* weights
            Assert.Equal(2, report.ShapeMismatched.Count);                  // classifier weight and bias
            var pipeline = new ImagePipeline(new IImageTransform[] { new ResizeImage(28, 28), new PadImage(2) }, ChannelPolicy.Grey, 32, 32,
                new[] { FashionMnist.Mean }, new[] { FashionMnist.Std });
            var train = new ImageDataSource(new ImageFolderDataset(ImageFixture.Train), pipeline);
            var val = new ImageDataSource(new ImageFolderDataset(ImageFixture.Val), pipeline);
            using var fineTune = new Trainer(model, FashionMnistRecipe.Options(20, 8) with { PeakLearningRate = 0.1, EvalBatchSize = 12 });
            var before = fineTune.Evaluate(val);
            var history = fineTune.Fit(train, val);
            Assert.True(history[^1].TrainLoss < history[0].TrainLoss, $"train loss {history[0].TrainLoss:F3} → {history[^1].TrainLoss:F3}");
            // T-shirts, trousers and sneakers: 12 validation images, chance is 4.
            Assert.True(history[^1].Test!.Top1 >= 10 / 12.0, $"val top-1 {history[^1].Test!.Top1:P0} (before {before.Top1:P0})");
        }
        finally
        {
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(checkpoint)!, Path.GetFileName(checkpoint) + "*")) File.Delete(f);
        }
    }

    [Fact]
    public void DemoTrainsOnAnImageFolderAndSkipsUnreadableFiles()
    {
        var images = Temp("demo-images");
        var output = Temp("demo-out");
        try
        {
            var train = Path.Combine(images, "train");
            ImageFixture.CopyTree(ImageFixture.Train, train);
            File.Copy(Path.Combine(ImageFixture.Damaged, "truncated.jpg"), Path.Combine(train, "1_Trouser", "broken.jpg"));
            ImageFixture.CopyTree(ImageFixture.Val, Path.Combine(images, "val"));

            var (failed, failedOutput) = RunDemo("--images", images, "--epochs", "1", "--batch", "8", "--out", output);
            Assert.Equal(1, failed);
            Assert.Contains("broken.jpg", failedOutput);
            Assert.Contains("truncated", failedOutput);

            var (code, text) = RunDemo("--images", images, "--epochs", "2", "--batch", "8", "--out", output, "--skip-unreadable");
            Assert.True(code == 0, text);
            Assert.Contains("25 training images in 3 classes", text);
            Assert.Contains("skipped 1 unreadable", text);
            Assert.Contains("val accuracy", text);
            // The closing list names each skipped file once, however many epochs skipped it.
            Assert.Single(text.Split('\n'), l => l.TrimStart().StartsWith("skipped ", StringComparison.Ordinal) && l.Contains("broken.jpg"));
            var csv = File.ReadAllLines(Path.Combine(output, "metrics.csv"));
            Assert.Equal(3, csv.Length);
            Assert.Equal(EpochMetrics.CsvHeader.Split(',').Length, csv[1].Split(',').Length);
            Assert.Equal("1", csv[1].Split(',')[Array.IndexOf(EpochMetrics.CsvHeader.Split(','), "skipped")]); // the epoch's skipped count
            Assert.Equal(NfNet.Devices.Precision.Name(NfNet.Devices.Precision.Choose(NfNet.Devices.PrecisionMode.Auto).Mode), csv[1].Split(',')[^1]);
        }
        finally
        {
            if (Directory.Exists(images)) Directory.Delete(images, true);
            if (Directory.Exists(output)) Directory.Delete(output, true);
        }
    }

    private static (int Code, string Output) RunDemo(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Repository.Tool);
        info.ArgumentList.Add("train");
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("the demo did not finish in 4 minutes");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
