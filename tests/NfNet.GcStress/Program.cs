// The library's real training step under garbage-collection pressure (issue: TorchSharp Scalars freed by the finalizer
// while libtorch reads them). Threads call GC.Collect + WaitForPendingFinalizers in a loop while the trainer runs:
// AGC + SGD (fused and unfused in turn), SAM, EMA, evaluation after every epoch, the image loader with worker threads, and a checkpoint saved every
// few steps and loaded into a fresh model, optimizer stack and EMA at the start of every round. Run it with
// MALLOC_PERTURB_ set (glibc then fills freed memory, so a Scalar read after its free is garbage, not a stale value).
//
//   dotnet NfNet.GcStress.dll --images DIR --seconds 150 [--collectors 2] [--width 8]
//
// Prints one line per failed step and a summary "gc-stress: S steps in R rounds, E errors"; exits 0 only when no step
// failed and at least one round finished.
using System.Diagnostics;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Images;

var images = Arg("--images") ?? throw new ArgumentException("--images DIR (a folder with train/ and val/) is required");
var seconds = double.Parse(Arg("--seconds") ?? "150", System.Globalization.CultureInfo.InvariantCulture);
var collectors = int.Parse(Arg("--collectors") ?? "2");
var width = int.Parse(Arg("--width") ?? "8");
var work = Directory.CreateTempSubdirectory("nfnet-gcstress-").FullName;
var checkpoint = Path.Combine(work, "checkpoint.nfckpt");

using var stop = new CancellationTokenSource();
var collections = 0L;
var threads = Enumerable.Range(0, collectors).Select(_ => new Thread(() =>
{
    while (!stop.IsCancellationRequested)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Interlocked.Increment(ref collections);
    }
})
{ IsBackground = true }).ToList();
threads.ForEach(t => t.Start());

var pipeline = ImagePipeline.PaddedGrey(28, 2, FashionMnist.Mean, FashionMnist.Std);
var train = new ImageDataSource(new ImageFolderDataset(Path.Combine(images, "train")), pipeline, new ImageLoaderOptions { Workers = 2 });
var val = new ImageDataSource(new ImageFolderDataset(Path.Combine(images, "val")), pipeline, new ImageLoaderOptions { Workers = 2 });
var config = FashionMnistRecipe.Model(width) with { NumClasses = train.Dataset.Classes.Count, StemWidth = 2 * width, GroupWidth = 8 };
var clock = Stopwatch.StartNew();
long steps = 0, errors = 0;
var rounds = 0;
const int EpochsPerRound = 3;
while (clock.Elapsed.TotalSeconds < seconds)
{
    try
    {
        using var model = new NFNet(config);
        var options = FashionMnistRecipe.Options(epochs: EpochsPerRound * (rounds + 1), batchSize: 6, seed: 1) with
        {
            SamRho = 0.05,
            EmaDecay = 0.99,
            CheckpointPath = checkpoint,
            CheckpointEverySteps = 4,
            KeepCheckpoints = 2,
            EvalBatchSize = 6,
            Augment = null,
            // Every other round without the fused CPU step: AGC's clipping, its weight decay and the SGD update as
            // separate libtorch calls (the path GPUs and other CPUs take), so both paths are under pressure.
            OptimizerFactory = (m, o) =>
            {
                var optimizer = TrainerOptimizers.Recipe(m, o);
                if (optimizer is AdaptiveGradientClipping agc) agc.UseFusedCpuStep = rounds % 2 == 0;
                return optimizer;
            },
        };
        using var trainer = new Trainer(model, config.NumClasses, options);
        trainer.ResumeNewest(checkpoint, out _);
        var before = trainer.Step;
        var history = trainer.Fit(train, val);
        steps += trainer.Step - before;
        var last = history[^1];
        if (!double.IsFinite(last.TrainLoss) || last.Test is not { } test || !double.IsFinite(test.Loss))
            throw new InvalidOperationException($"non-finite metrics after epoch {last.Epoch}: train loss {last.TrainLoss}, test {last.Test}");
    }
    catch (Exception e) when (e is not OutOfMemoryException)
    {
        errors++;
        Console.WriteLine($"gc-stress: round {rounds + 1} failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
        // The first failure's whole trace, to find the call that read freed memory (the summary line stays one line).
        if (errors == 1)
            foreach (var line in e.ToString().Split('\n')) Console.WriteLine($"gc-stress:   {line.TrimEnd()}");
        // Start again from scratch: a failed step may have left any state behind it.
        foreach (var f in Directory.EnumerateFiles(work)) File.Delete(f);
        if (errors >= 20) break;   // enough to fail; a broken set-up would otherwise spin
    }
    rounds++;
}
stop.Cancel();
threads.ForEach(t => t.Join());
Directory.Delete(work, recursive: true);
Console.WriteLine($"gc-stress: {steps} steps in {rounds} rounds, {errors} errors ({collectors} collecting threads, {collections} collections, " +
    $"MALLOC_PERTURB_={Environment.GetEnvironmentVariable("MALLOC_PERTURB_") ?? "unset"}, {clock.Elapsed.TotalSeconds:F0} s)");
return errors == 0 && rounds > 0 && steps > 0 ? 0 : 1;

string? Arg(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
