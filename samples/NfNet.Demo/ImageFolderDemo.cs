using System.Diagnostics;
using NfNet.IO;
using NfNet.Models;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Images;
using NfNet.Training.Reporting;
using static TorchSharp.torch;

namespace NfNet.Demo;

/// <summary>What <c>--images</c> runs with.</summary>
internal sealed record ImageFolderRun(string Images, string? Model, string? Pretrained, int? Resolution, int? Channels, string? Augment,
    double? LearningRate, bool FreezeBackbone, int Workers, bool SkipUnreadable, int Width, int Epochs, int Batch, int Seed,
    string Out, bool Resume, int CheckpointEvery, int Keep, bool Fp32, NfNet.Distributed.ICommunicator? Communicator = null);

/// <summary>
/// Trains or fine-tunes on a folder of images: <c>DIR/train</c> and <c>DIR/val</c> (or <c>DIR/test</c>), one subfolder
/// per class. Without <c>--model</c> it trains the demo's small NFNet with the Fashion-MNIST recipe (pad 2 + random crop
/// and flip, grey); with <c>--model NAME</c> any registry model with the paper's augmentation (random-resized crop, flip,
/// RandAugment) and timm's evaluation transform.
/// </summary>
internal static class ImageFolderDemo
{
    public static int Run(ImageFolderRun run)
    {
        var trainDir = Path.Combine(run.Images, "train");
        var evalDir = new[] { "val", "test" }.Select(d => Path.Combine(run.Images, d)).FirstOrDefault(Directory.Exists);
        if (!Directory.Exists(trainDir) || evalDir is null)
        {
            Console.Error.WriteLine($"--images {run.Images}: expected a 'train' folder and a 'val' (or 'test') folder in it, each with one subfolder per class");
            return 3;
        }
        Console.WriteLine($"NfNet.NET demo: training on the images in {run.Images}");
        var clock = Stopwatch.StartNew();
        var trainSet = new ImageFolderDataset(trainDir, Console.IsOutputRedirected ? null : new Progress<long>(n => Console.Write($"\r  indexing: {n:N0} files")));
        var evalSet = new ImageFolderDataset(evalDir);
        Console.WriteLine($"\r  {trainSet.Samples.Count:N0} training images in {trainSet.Classes.Count} classes, {evalSet.Samples.Count:N0} in {Path.GetFileName(evalDir)} (indexed in {clock.Elapsed.TotalSeconds:F1} s)");
        if (!trainSet.Classes.SequenceEqual(evalSet.Classes))
        {
            Console.Error.WriteLine($"the class folders of {trainDir} ({string.Join(", ", trainSet.Classes)}) and {evalDir} ({string.Join(", ", evalSet.Classes)}) differ");
            return 3;
        }
        var classes = trainSet.Classes.Count;
        var recipe = run.Augment ?? (run.Model is null ? "pad-crop" : "paper");
        if (recipe is not ("pad-crop" or "paper"))
        {
            Console.Error.WriteLine($"--augment must be 'paper' or 'pad-crop', got '{run.Augment}'");
            return 2;
        }
        var channels = run.Channels ?? (run.Model is null ? 1 : 3);
        var resolution = run.Resolution ?? 32;

        manual_seed(run.Seed);
        ImageClassifier model;
        if (run.Model is null)
        {
            var config = FashionMnistRecipe.Model(run.Width) with { NumClasses = classes, InChannels = channels, TrainResolution = resolution, EvalResolution = resolution };
            model = new NFNet(config);
        }
        else model = ModelRegistry.Create(run.Model, classes, channels);
        using var owned = model;
        if (run.Pretrained is not null)
        {
            var report = PretrainedWeights.LoadBackbone(model, run.Pretrained);
            Console.WriteLine($"  loaded {report.Loaded.Count} tensors from {run.Pretrained}" +
                (report.ShapeMismatched.Count + report.Missing.Count > 0 ? $"; classifier reset for {classes} classes" : ""));
        }
        if (run.FreezeBackbone) PretrainedWeights.FreezeBackbone(model);

        var channelPolicy = new ChannelPolicy(channels);
        ImagePipeline trainPipeline, evalPipeline;
        if (recipe == "pad-crop")
        {
            // The Fashion-MNIST recipe: images of resolution − 4 px padded by 2 (the trainer then crops and flips).
            var (mean, std) = channels == 1 ? (new[] { FashionMnist.Mean }, new[] { FashionMnist.Std }) : (new[] { 0.485, 0.456, 0.406 }, new[] { 0.229, 0.224, 0.225 });
            var inner = resolution - 4;
            IImageTransform[] transforms = { new ResizeImage(inner, inner), new PadImage(2) };
            trainPipeline = evalPipeline = new ImagePipeline(transforms, channelPolicy, resolution, resolution, mean, std);
        }
        else
        {
            // The model's own data configuration (timm's pretrained_cfg): its recipe's RandAugment (timm's rand-m9 when
            // it has none) and, for published weights on RGB images, its evaluation crop and statistics.
            var data = model.PretrainedConfig;
            trainPipeline = ImagePipeline.Train(resolution, data.RandAugment ?? new RandAugmentSetting(2, 9), channelPolicy);
            evalPipeline = data.HubId is not null && channels == 3
                ? ImagePipeline.ForModel(data, resolution)
                : ImagePipeline.Eval(resolution, channels: channelPolicy);
        }
        var loader = new ImageLoaderOptions { Workers = run.Workers, SkipUnreadable = run.SkipUnreadable };
        var train = new ImageDataSource(trainSet, trainPipeline, loader);
        var test = new ImageDataSource(evalSet, evalPipeline, loader with { SkipUnreadable = false });

        var lr = run.LearningRate ?? (run.Pretrained is null ? 0.2 : 0.02) * run.Batch / 256;
        var options = FashionMnistRecipe.Options(run.Epochs, run.Batch, run.Seed) with
        {
            PeakLearningRate = lr,
            Augment = recipe == "pad-crop" ? FashionMnistRecipe.Options(1).Augment : null,
            Precision = run.Fp32 ? NfNet.Devices.PrecisionMode.Float32 : NfNet.Devices.PrecisionMode.MixedBFloat16,
            CheckpointPath = Path.Combine(run.Out, "checkpoint.nfckpt"),
            CheckpointEverySteps = run.CheckpointEvery,
            KeepCheckpoints = run.Keep,
            EvalBatchSize = Math.Max(run.Batch, 64),
            Communicator = run.Communicator,
        };
        Console.WriteLine($"  model {run.Model ?? model.Configuration.GetType().Name}: {model.ParameterCount():N0} parameters; {resolution} px, {channels} channel(s); " +
                          $"augmentation '{recipe}'; lr {lr:G3}; {run.Epochs} epochs of {train.Count / run.Batch} steps at batch {run.Batch}; {run.Workers} loader threads");
        Directory.CreateDirectory(run.Out);
        using var trainer = new Trainer(model, options);
        if (run.Communicator is not null) DistributedDemo.Describe(trainer);
        if (run.Resume && DemoResume.Resume(trainer, options.CheckpointPath) is null) return 3;
        clock.Restart();
        ConsoleProgress.Fit(trainer, train, test);
        if (trainer.History.Count == 0)
        {
            Console.WriteLine($"nothing to do: the run had already finished its {run.Epochs} epochs");
            return 0;
        }
        if (trainer.Rank != 0) return 0; // rank 0 writes the files
        var csv = Path.Combine(run.Out, "metrics.csv");
        AtomicFile.WriteAllLines(csv, new[] { EpochMetrics.CsvHeader }.Concat(trainer.History.Select(m => m.ToCsv())));
        TrainingPlots.SaveCurves(trainer.History, Path.Combine(run.Out, "curves.png"));
        var final = trainer.History[^1];
        Console.WriteLine();
        Console.WriteLine($"{Path.GetFileName(evalDir)} accuracy {final.Test!.Top1:P2} (top-5 {final.Test.Top5:P2}) after {run.Epochs} epochs in {clock.Elapsed.TotalMinutes:F1} min" +
                          (train.SkippedSamples > 0 ? $"; skipped {train.SkippedSamples} unreadable training files" : ""));
        foreach (var file in train.SkippedFiles.Take(5)) Console.WriteLine($"  skipped {file}");
        Console.WriteLine($"  checkpoint   {options.CheckpointPath}");
        Console.WriteLine($"  metrics      {csv}");
        return 0;
    }
}
