// NfNet.NET demo: train a small NFNet on Fashion-MNIST with SGD-Nesterov + AGC + warm-up/cosine in mixed bf16,
// evaluate on the 10,000 test images, save a checkpoint, metrics CSV and plots.
//   dotnet run -c Release --project samples/NfNet.Demo -- [--epochs N] [--batch N] [--width N] [--data DIR] [--out DIR] [--resume]
//   dotnet run -c Release --project samples/NfNet.Demo -- --inference [--variant F0] [--resolution 256] [--bf16]
using System.Diagnostics;
using NfNet;
using NfNet.Demo;
using NfNet.IO;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Reporting;
using TorchSharp;
using static TorchSharp.torch;

var epochs = 20;
var batch = 256;
var width = 32;
var seed = 0;
long? limit = null;
var data = FashionMnist.DebianDirectory;
var outDir = Path.GetFullPath("nfnet-demo-output");
var inference = false;
var variant = "F0";
int? resolution = null;
var bf16 = false;
var fp32 = false;
var resume = false;
var checkpointEvery = 0;
var keep = 2;
var distributed = false;
NfNet.Distributed.ICommunicator? comm = null;
string? images = null, modelName = null, pretrained = null, augment = null, writeImages = null;
int? channels = null;
double? lr = null;
var freeze = false;
var workers = 2;
var skipUnreadable = false;
var imageFormat = NfNet.Training.Images.ImageFileFormat.Mixed;
try
{
    for (var i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--epochs": epochs = int.Parse(args[++i]); break;
            case "--batch": batch = int.Parse(args[++i]); break;
            case "--width": width = int.Parse(args[++i]); break;
            case "--seed": seed = int.Parse(args[++i]); break;
            case "--limit": limit = long.Parse(args[++i]); break;
            case "--data": data = args[++i]; break;
            case "--out": outDir = Path.GetFullPath(args[++i]); break;
            case "--fp32": fp32 = true; break;
            case "--resume": resume = true; break;
            case "--checkpoint-every": checkpointEvery = int.Parse(args[++i]); break;
            case "--keep": keep = int.Parse(args[++i]); break;
            case "--distributed": distributed = true; break;
            case "--inference": inference = true; break;
            case "--variant": variant = args[++i]; break;
            case "--resolution": resolution = int.Parse(args[++i]); break;
            case "--bf16": bf16 = true; break;
            case "--images": images = args[++i]; break;
            case "--model": modelName = args[++i]; break;
            case "--pretrained": pretrained = args[++i]; break;
            case "--augment": augment = args[++i]; break;
            case "--channels": channels = int.Parse(args[++i]); break;
            case "--lr": lr = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
            case "--freeze-backbone": freeze = true; break;
            case "--workers": workers = int.Parse(args[++i]); break;
            case "--skip-unreadable": skipUnreadable = true; break;
            case "--write-images": writeImages = args[++i]; break;
            case "--image-format": imageFormat = Enum.Parse<NfNet.Training.Images.ImageFileFormat>(args[++i], ignoreCase: true); break;
            case "-h" or "--help":
                Console.WriteLine("""
                    usage: NfNet.Demo [--epochs 20] [--batch 256] [--width 32] [--data DIR] [--out DIR] [--seed 0] [--limit N] [--fp32] [--resume]
                                      [--checkpoint-every STEPS] [--keep 2]
                           NfNet.Demo --images DIR [--model NAME] [--pretrained FILE] [--resolution PX] [--channels 1|3]
                                      [--augment paper|pad-crop] [--lr LR] [--freeze-backbone] [--workers 2] [--skip-unreadable]
                                      [--epochs N] [--batch N] [--out DIR] [--seed N] [--resume]
                           NfNet.Demo --write-images DIR [--image-format mixed|png|jpeg] [--data DIR] [--limit N]
                           NfNet.Demo --inference [--variant F0..F7] [--resolution PX] [--bf16]
                    Trains a small NFNet on Fashion-MNIST (IDX files in DIR, default /usr/share/datasets/fashion-mnist).
                    --images trains or fine-tunes on DIR/train and DIR/val (or DIR/test), one subfolder per class:
                    without --model the demo NFNet with the Fashion-MNIST recipe; with --model any registry name
                    (dm_nfnet_f0, resnet50, ...) with the paper's crop, flip and RandAugment; --pretrained loads timm
                    safetensors or a checkpoint (the classifier is reset when the class count differs).
                    --write-images writes Fashion-MNIST as such a folder of PNG/JPEG files.
                    --distributed trains data-parallel on the ranks mpirun started (mpirun -np 4 ... -- --distributed):
                    --batch is the global batch; rank 0 prints and writes the files; without mpirun a world of one.
                    --resume continues an interrupted run from the newest valid checkpoint in OUT (same options; one is
                    written after every epoch, and every STEPS steps with --checkpoint-every), as exactly as if it had
                    not stopped; --keep N keeps the newest N checkpoints, so a damaged newest one falls back to the next.
                    """);
                return 0;
            default:
                Console.Error.WriteLine($"unknown option '{args[i]}' (try --help)");
                return 2;
        }
    }
}
catch (Exception e) when (e is FormatException or IndexOutOfRangeException or ArgumentException)
{
    Console.Error.WriteLine($"bad command line: {e.Message} (try --help)");
    return 2;
}

try
{
    // A training program's choice, not the library's: keep freed tensor memory for the next step (README, platform notes).
    NfNet.Platform.NativeAllocator.TuneForTensors();
    if (inference) return InferenceDemo.Run(variant, resolution, bf16, seed);
    if (writeImages is not null)
    {
        var clock0 = Stopwatch.StartNew();
        var (trainCount, testCount) = NfNet.Training.Images.FashionMnistImageFolder.Write(data, writeImages, imageFormat, limit is null ? null : (int)limit);
        Console.WriteLine($"wrote {trainCount:N0} training and {testCount:N0} test images ({imageFormat}) to {Path.GetFullPath(writeImages)} in {clock0.Elapsed.TotalSeconds:F1} s");
        return 0;
    }
    if (distributed) comm = DistributedDemo.Start();
    if (images is not null)
        return ImageFolderDemo.Run(new ImageFolderRun(images, modelName, pretrained, resolution, channels, augment, lr, freeze, workers,
            skipUnreadable, width, epochs, batch, seed, outDir, resume, checkpointEvery, keep, fp32, comm));

    Console.WriteLine($"NfNet.NET demo: training on Fashion-MNIST from {data}");
    using var train = FashionMnist.Load(data, "train", limit: limit);
    using var test = FashionMnist.Load(data, "t10k");
    manual_seed(seed);
    var config = FashionMnistRecipe.Model(width);
    using var model = new NFNet(config);
    var options = FashionMnistRecipe.Options(epochs, batch, seed) with
    {
        Precision = fp32 ? NfNet.Devices.PrecisionMode.Float32 : NfNet.Devices.PrecisionMode.MixedBFloat16,
        CheckpointPath = Path.Combine(outDir, "checkpoint.nfckpt"),
        CheckpointEverySteps = checkpointEvery,
        KeepCheckpoints = keep,
        Communicator = comm,
    };
    Console.WriteLine($"model {config.Name}: {model.ParameterCount():N0} parameters, {model.CountMacs(32, 32) / 1e6:F1} M MACs per image; " +
                      $"{train.Count:N0} training / {test.Count:N0} test images; {epochs} epochs of {train.Count / batch} steps at batch {batch}; " +
                      $"{options.Precision}; {get_num_threads()} threads");
    Directory.CreateDirectory(outDir);
    using var trainer = new Trainer(model, 10, options);
    if (comm is not null) DistributedDemo.Describe(trainer);
    var csv = Path.Combine(outDir, "metrics.csv");
    var earlier = new List<string>();
    if (resume)
    {
        if (DemoResume.Resume(trainer, options.CheckpointPath) is not { } info) return 3;
        // Keep the metrics of the epochs already trained (the CSV's first column is the epoch).
        if (File.Exists(csv))
            earlier.AddRange(File.ReadLines(csv).Skip(1).Where(l => int.TryParse(l.Split(',')[0], out var e) && e <= info.Epoch));
        if (info.Epoch >= epochs)
        {
            Console.WriteLine($"nothing to do: the checkpoint already has all {epochs} epochs");
            return 0;
        }
    }
    var clock = Stopwatch.StartNew();
    ConsoleProgress.Fit(trainer, train, test);
    var minutes = clock.Elapsed.TotalMinutes;
    if (trainer.History.Count == 0)
    {
        Console.WriteLine($"nothing to do: the run had already finished its {epochs} epochs");
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
        manual_seed(seed);
        using var initial = new NFNet(config);
        var atInit = SignalPropagation.Measure(initial, batchForSpp);
        var trained = SignalPropagation.Measure(model, batchForSpp);
        TrainingPlots.SaveSignalPropagation(trained, spp, atInitialisation: atInit);
    }
    Console.WriteLine();
    Console.WriteLine($"test accuracy {final.Test!.Top1:P2} (top-5 {final.Test.Top5:P2}) after {epochs} epochs in {minutes:F1} min");
    Console.WriteLine($"  checkpoint   {options.CheckpointPath}");
    Console.WriteLine($"  metrics      {csv}");
    Console.WriteLine($"  curves       {curves}");
    Console.WriteLine($"  SPP plot     {spp}");
    return 0;
}
catch (FileNotFoundException e)
{
    return DistributedDemo.Fail(comm, e.Message, 3);
}
catch (IOException e) when (e is not FileNotFoundException)
{
    return DistributedDemo.Fail(comm, e.Message, 1);
}
catch (Exception e) when (e is UnknownVariantException or UnknownModelException or InvalidNFNetConfigException or IdxFormatException or TrainingDivergedException
                              or NfNet.Training.Images.ImageDatasetException or StateDictMismatchException
                              or NfNet.Distributed.RankMismatchException or NfNet.Distributed.DistributedSetupException)
{
    return DistributedDemo.Fail(comm, e.Message, 1);
}
catch (Exception e) when (comm is { WorldSize: > 1 })
{
    // Any other failure of one rank stops all of them now, instead of leaving them waiting in a collective.
    return DistributedDemo.Fail(comm, e.ToString(), 1);
}
finally
{
    comm?.Dispose();
}
