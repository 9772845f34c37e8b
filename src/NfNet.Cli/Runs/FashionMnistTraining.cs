using System.Diagnostics;
using NfNet.Cli.Commands;
using NfNet.IO;
using NfNet.Models;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Reporting;
using static TorchSharp.torch;

namespace NfNet.Cli.Runs;

/// <summary>The README demo: the small NFNet (<see cref="FashionMnistRecipe.Model"/>) on Fashion-MNIST's IDX files with
/// the Fashion-MNIST recipe; checkpoint, metrics CSV, curves and the signal-propagation plot in --out.</summary>
internal static class FashionMnistTraining
{
    public static int Run(TrainSettings s)
    {
        var data = s.Data ?? FashionMnist.DebianDirectory;
        var outDir = Path.GetFullPath(s.Out);
        var width = s.Width ?? 32;
        var comm = RunContext.Join(s.Distributed); // disposed by CliApp after the error handler has used it
        Console.WriteLine($"NfNet.NET: training on Fashion-MNIST from {data}");
        using var train = FashionMnist.Load(data, "train", limit: s.Limit);
        using var test = FashionMnist.Load(data, "t10k");
        manual_seed(s.Seed);
        var config = FashionMnistRecipe.Model(width);
        using var model = new NFNet(config);
        var options = FashionMnistRecipe.Options(s.Epochs, s.Batch, s.Seed) with
        {
            Precision = s.PrecisionMode,
            CheckpointPath = Path.Combine(outDir, "checkpoint.nfckpt"),
            CheckpointEverySteps = s.CheckpointEvery,
            KeepCheckpoints = s.Keep,
            Communicator = comm,
        };
        Console.WriteLine($"model {config.Name}: {model.ParameterCount():N0} parameters, {model.CountMacs(32, 32) / 1e6:F1} M MACs per image; " +
                          $"{train.Count:N0} training / {test.Count:N0} test images; {s.Epochs} epochs of {train.Count / s.Batch} steps at batch {s.Batch}; " +
                          $"{get_num_threads()} threads");
        Directory.CreateDirectory(outDir);
        using var trainer = new Trainer(model, options);
        Console.WriteLine($"  {trainer.PrecisionChoice}");
        Console.WriteLine($"  {CliApp.OpenMpWaitingNote}");
        if (comm is not null) RunContext.Describe(trainer);
        var csv = Path.Combine(outDir, "metrics.csv");
        var earlier = new List<string>();
        if (s.Resume)
        {
            var info = RunContext.Resume(trainer, options.CheckpointPath);
            // Keep the metrics of the epochs already trained (the CSV's first column is the epoch).
            if (File.Exists(csv))
                earlier.AddRange(File.ReadLines(csv).Skip(1).Where(l => int.TryParse(l.Split(',')[0], out var e) && e <= info.Epoch));
            if (info.Epoch >= s.Epochs)
            {
                Console.WriteLine($"nothing to do: the checkpoint already has all {s.Epochs} epochs");
                return 0;
            }
        }
        var clock = Stopwatch.StartNew();
        ConsoleProgress.Fit(trainer, train, test);
        var minutes = clock.Elapsed.TotalMinutes;
        if (trainer.History.Count == 0)
        {
            Console.WriteLine($"nothing to do: the run had already finished its {s.Epochs} epochs");
            return 0;
        }
        var final = trainer.History[^1];
        if (trainer.Rank != 0) return 0; // rank 0 writes the files (the ranks' models are identical)
        AtomicFile.WriteAllLines(csv, new[] { EpochMetrics.CsvHeader }.Concat(earlier).Concat(trainer.History.Select(m => m.ToCsv())));
        var curves = Path.Combine(outDir, "curves.png");
        TrainingPlots.SaveCurves(trainer.History, curves);
        var spp = Path.Combine(outDir, "signal-propagation.png");
        using (var batchForSpp = test.Batches(256, shuffle: false).First().Images)
        {
            // The paper's SPPs are of the network at initialisation: the same seed rebuilds it exactly, also after a resume.
            manual_seed(s.Seed);
            using var initial = new NFNet(config);
            var atInit = SignalPropagation.Measure(initial, batchForSpp);
            var trained = SignalPropagation.Measure(model, batchForSpp);
            TrainingPlots.SaveSignalPropagation(trained, spp, atInitialisation: atInit);
        }
        Console.WriteLine();
        Console.WriteLine($"test accuracy {final.Test!.Top1:P2} (top-5 {final.Test.Top5:P2}) after {s.Epochs} epochs in {minutes:F1} min");
        Console.WriteLine($"  checkpoint   {options.CheckpointPath}");
        Console.WriteLine($"  metrics      {csv}");
        Console.WriteLine($"  curves       {curves}");
        Console.WriteLine($"  SPP plot     {spp}");
        return 0;
    }
}
