using System.Diagnostics;
using NfNet.Cli.Commands;
using NfNet.Hub;
using NfNet.IO;
using NfNet.Models;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Images;
using NfNet.Training.Reporting;
using static TorchSharp.torch;

namespace NfNet.Cli.Runs;

/// <summary>
/// Training or fine-tuning on image files: an image folder (<c>DIR/train</c> and <c>DIR/val</c> or <c>DIR/test</c>, one
/// subfolder per class) or two list files. Without <c>--model</c> the demo's small NFNet with the Fashion-MNIST recipe;
/// with <c>--model</c> any registry model with the paper's augmentation and the model's own evaluation transform.
/// </summary>
internal static class ImageTraining
{
    public static int Run(TrainSettings s)
    {
        var (trainSet, evalSet, evalName) = Datasets(s);
        var outDir = Path.GetFullPath(s.Out);
        var comm = RunContext.Join(s.Distributed); // disposed by CliApp after the error handler has used it
        var clock = Stopwatch.StartNew();
        if (!trainSet.Classes.SequenceEqual(evalSet.Classes))
            throw new CliException($"the training classes ({string.Join(", ", trainSet.Classes)}) and the {evalName} classes ({string.Join(", ", evalSet.Classes)}) differ");
        var classes = trainSet.Classes.Count;
        var recipe = s.Augment ?? (s.Model is null ? "pad-crop" : "paper");
        var channels = s.Channels ?? (s.Model is null ? 1 : 3);
        var demoResolution = s.Resolution ?? 32;

        manual_seed(s.Seed);
        using var model = s.Model is null
            ? new NFNet(FashionMnistRecipe.Model(s.Width ?? 32) with { NumClasses = classes, InChannels = channels, TrainResolution = demoResolution, EvalResolution = demoResolution })
            : ModelRegistry.Create(s.Model, new ModelOptions { NumClasses = classes, InChannels = channels, DropRate = s.Drop, StochasticDepthRate = s.DropPath });
        // A registry model trains at its own training size unless told (timm's input_size from its pretrained_cfg).
        var resolution = s.Resolution ?? (s.Model is null ? demoResolution : model.PretrainedConfig.InputSize);
        if (s.GradCheckpointing)
        {
            if (model is not NFNet normFree) throw new CliException($"--grad-checkpointing applies to the NormFreeNet family; {model.ModelName} is not one of it");
            normFree.SetGradCheckpointing();
        }
        if (s.Pretrained is { } pretrained)
        {
            var path = File.Exists(pretrained) ? pretrained
                : pretrained.Contains('/', StringComparison.Ordinal) || PublishedWeights.FindTag(pretrained) is not null
                    ? HubWeights.Resolve(pretrained, progress: new DownloadProgress())
                : throw new CliException($"--pretrained: no file at '{pretrained}' (or give a Hub id, hf-hub:ORG/NAME, or timm's name.tag such as eca_nfnet_l0.ra2_in1k)");
            var report = PretrainedWeights.LoadBackbone(model, path);
            Console.WriteLine($"  loaded {report.Loaded.Count} tensors from {path}" +
                (report.ShapeMismatched.Count + report.Missing.Count > 0 ? $"; classifier reset for {classes} classes" : ""));
        }
        if (s.FreezeBackbone) PretrainedWeights.FreezeBackbone(model);

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
        var loader = new ImageLoaderOptions { Workers = s.Workers ?? 2, SkipUnreadable = s.SkipUnreadable };
        var train = new ImageDataSource(trainSet, trainPipeline, loader);
        var test = new ImageDataSource(evalSet, evalPipeline, loader with { SkipUnreadable = false });

        var lr = s.LearningRate ?? (s.Pretrained is null ? 0.2 : 0.02) * s.Batch / 256;
        var options = FashionMnistRecipe.Options(s.Epochs, s.Batch, s.Seed) with
        {
            PeakLearningRate = lr,
            LayerDecay = s.LayerDecay,
            Augment = recipe == "pad-crop" ? FashionMnistRecipe.Options(1).Augment : null,
            Precision = s.PrecisionMode,
            CheckpointPath = Path.Combine(outDir, "checkpoint.nfckpt"),
            CheckpointEverySteps = s.CheckpointEvery,
            KeepCheckpoints = s.Keep,
            EvalBatchSize = Math.Max(s.Batch, 64),
            Communicator = comm,
        };
        Console.WriteLine($"  model {s.Model ?? model.Configuration.GetType().Name}: {model.ParameterCount():N0} parameters; {resolution} px, {channels} channel(s); " +
                          $"augmentation '{recipe}'; lr {lr:G3}{(s.LayerDecay is { } decay ? $" (layer decay {decay})" : "")}" +
                          $"{(s.GradCheckpointing ? "; gradient checkpointing" : "")}; {s.Epochs} epochs of {train.Count / s.Batch} steps at batch {s.Batch}; {loader.Workers} loader threads");
        Directory.CreateDirectory(outDir);
        using var trainer = new Trainer(model, options);
        Console.WriteLine($"  {trainer.PrecisionChoice}");
        Console.WriteLine($"  {CliApp.OpenMpWaitingNote}");
        if (comm is not null) RunContext.Describe(trainer);
        if (s.Resume) RunContext.Resume(trainer, options.CheckpointPath);
        clock.Restart();
        ConsoleProgress.Fit(trainer, train, test);
        if (trainer.History.Count == 0)
        {
            Console.WriteLine($"nothing to do: the run had already finished its {s.Epochs} epochs");
            return 0;
        }
        if (trainer.Rank != 0) return 0; // rank 0 writes the files
        var csv = Path.Combine(outDir, "metrics.csv");
        AtomicFile.WriteAllLines(csv, new[] { EpochMetrics.CsvHeader }.Concat(trainer.History.Select(m => m.ToCsv())));
        TrainingPlots.SaveCurves(trainer.History, Path.Combine(outDir, "curves.png"));
        var final = trainer.History[^1];
        Console.WriteLine();
        Console.WriteLine($"{evalName} accuracy {final.Test!.Top1:P2} (top-5 {final.Test.Top5:P2}) after {s.Epochs} epochs in {clock.Elapsed.TotalMinutes:F1} min" +
                          (train.SkippedSamples > 0 ? $"; skipped {train.SkippedSamples} unreadable training files" : ""));
        foreach (var file in train.SkippedFiles.Take(5)) Console.WriteLine($"  skipped {file}");
        Console.WriteLine($"  checkpoint   {options.CheckpointPath}");
        Console.WriteLine($"  metrics      {csv}");
        return 0;
    }

    private static (IImageDataset Train, IImageDataset Eval, string EvalName) Datasets(TrainSettings s)
    {
        if (s.List is { } list)
        {
            ModelSource.Exists(list, "--list");
            ModelSource.Exists(s.ValList!, "--val-list");
            Console.WriteLine($"NfNet.NET: training on the images listed in {list}");
            var trainList = new ImageListDataset(list);
            return (trainList, new ImageListDataset(s.ValList!, classes: trainList.Classes), "validation");
        }
        var images = s.Images!;
        var trainDir = Path.Combine(images, "train");
        var evalDir = new[] { "val", "test" }.Select(d => Path.Combine(images, d)).FirstOrDefault(Directory.Exists);
        if (!Directory.Exists(trainDir) || evalDir is null)
            throw new CliException($"--images {images}: expected a 'train' folder and a 'val' (or 'test') folder in it, each with one subfolder per class");
        Console.WriteLine($"NfNet.NET: training on the images in {images}");
        var clock = Stopwatch.StartNew();
        var trainSet = new ImageFolderDataset(trainDir, Console.IsOutputRedirected ? null : new Progress<long>(n => Console.Write($"\r  indexing: {n:N0} files")));
        var evalSet = new ImageFolderDataset(evalDir);
        Console.WriteLine($"\r  {trainSet.Samples.Count:N0} training images in {trainSet.Classes.Count} classes, {evalSet.Samples.Count:N0} in {Path.GetFileName(evalDir)} (indexed in {clock.Elapsed.TotalSeconds:F1} s)");
        return (trainSet, evalSet, Path.GetFileName(evalDir));
    }
}
