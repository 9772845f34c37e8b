using System.ComponentModel;
using NfNet.Cli.Runs;
using Spectre.Console.Cli;

namespace NfNet.Cli.Commands;

/// <summary><c>nfnet train</c>'s options.</summary>
public sealed class TrainSettings : CliSettings
{
    [CommandOption("--data <DIR>")]
    [Description("Fashion-MNIST's IDX files (default: Debian's /usr/share/datasets/fashion-mnist); the default data")]
    public string? Data { get; init; }

    [CommandOption("--images <DIR>")]
    [Description("An image folder: DIR/train and DIR/val (or DIR/test), one subfolder per class")]
    public string? Images { get; init; }

    [CommandOption("--list <FILE>")]
    [Description("A list file of path,label lines for training (with --val-list)")]
    public string? List { get; init; }

    [CommandOption("--val-list <FILE>")]
    [Description("The list file to evaluate on (with --list)")]
    public string? ValList { get; init; }

    [CommandOption("-m|--model <NAME>")]
    [Description("Any registry model (image data only); default: the demo's small NFNet")]
    public string? Model { get; init; }

    [CommandOption("-p|--pretrained <FILE|ID>")]
    [Description("Start from timm safetensors, an NfNet.NET checkpoint, or published weights (timm's name.tag, e.g. eca_nfnet_l0.ra2_in1k, or hf-hub:ORG/NAME; the classifier is reset for your classes)")]
    public string? Pretrained { get; init; }

    [CommandOption("--freeze-backbone")]
    [Description("Train the classifier only (linear probing)")]
    public bool FreezeBackbone { get; init; }

    [CommandOption("--width <N>")]
    [Description("Width of the demo NFNet's first stage (widths N, 2N, 3N, 4N); 24 to 1024, a multiple of 8")]
    public int? Width { get; init; }

    [CommandOption("--epochs <N>")]
    [Description("Epochs, 1 to 100,000")]
    [DefaultValue(20)]
    public int Epochs { get; init; } = 20;

    [CommandOption("--batch <N>")]
    [Description("Global batch size, 1 to 65,536 (split across ranks with --distributed)")]
    [DefaultValue(256)]
    public int Batch { get; init; } = 256;

    [CommandOption("--seed <N>")]
    [DefaultValue(0)]
    public int Seed { get; init; }

    [CommandOption("--limit <N>")]
    [Description("Train on the first N Fashion-MNIST images (--data only)")]
    public long? Limit { get; init; }

    [CommandOption("--lr <LR>")]
    [Description("Peak learning rate, a finite number > 0 (default 0.2 × batch/256, or 0.02 × batch/256 when fine-tuning)")]
    public double? LearningRate { get; init; }

    [CommandOption("--layer-decay <F>")]
    [Description("Layer-wise learning-rate decay, above 0 and at most 1 (timm's --layer-decay): depth d of D learns at F^(D-1-d) of the rate")]
    public double? LayerDecay { get; init; }

    [CommandOption("--grad-checkpointing")]
    [Description("Recompute each stage's activations in the backward pass instead of keeping them (NormFreeNet family; less memory, one more forward)")]
    public bool GradCheckpointing { get; init; }

    [CommandOption("--drop <RATE>")]
    [Description("Dropout before the classifier, 0 to < 1 (timm's --drop; default: the model's)")]
    public double? Drop { get; init; }

    [CommandOption("--drop-path <RATE>")]
    [Description("Stochastic depth rate, 0 to < 1 (timm's --drop-path; default: the model's)")]
    public double? DropPath { get; init; }

    [CommandOption("--resolution <PX>")]
    [Description("Image size in pixels, 16 to 4096 (image data only; default 32 for the demo NFNet, a registry model's training size, e.g. 224 for eca_nfnet_l0)")]
    public int? Resolution { get; init; }

    [CommandOption("--channels <1|3>")]
    [Description("Input channels (image data only; default 1 for the demo NFNet, 3 for a registry model)")]
    public int? Channels { get; init; }

    [CommandOption("--augment <RECIPE>")]
    [Description("paper (random-resized crop, flip, the model's RandAugment) or pad-crop (the Fashion-MNIST recipe); image data only")]
    public string? Augment { get; init; }

    [CommandOption("--workers <N>")]
    [Description("Image decoding threads, 1 to 256 (image data only; default 2)")]
    public int? Workers { get; init; }

    [CommandOption("--skip-unreadable")]
    [Description("Count and skip damaged image files instead of stopping at the first")]
    public bool SkipUnreadable { get; init; }

    [CommandOption("--precision <MODE>")]
    [Description("auto (mixed bf16 where the CPU or GPU computes bf16 natively, float32 elsewhere), fp32, mixed or bf16")]
    [DefaultValue("auto")]
    public string Precision { get; init; } = "auto";

    [CommandOption("--fp32")]
    [Description("The same as --precision fp32")]
    public bool Fp32 { get; init; }

    /// <summary>The precision asked for (<see cref="NfNet.Devices.PrecisionMode.Auto"/> unless --precision or --fp32 say).</summary>
    public NfNet.Devices.PrecisionMode PrecisionMode => Fp32 ? NfNet.Devices.PrecisionMode.Float32 : NfNet.Devices.Precision.Parse(Precision);

    [CommandOption("-o|--out <DIR>")]
    [Description("Where the checkpoint, metrics.csv and plots go")]
    [DefaultValue("nfnet-demo-output")]
    public string Out { get; init; } = "nfnet-demo-output";

    [CommandOption("--resume")]
    [Description("Continue from the newest valid checkpoint in --out (same options), exactly as if the run had not stopped")]
    public bool Resume { get; init; }

    [CommandOption("--checkpoint-every <STEPS>")]
    [Description("Also write a checkpoint every STEPS steps (one is written after every epoch)")]
    [DefaultValue(0)]
    public int CheckpointEvery { get; init; }

    [CommandOption("--keep <N>")]
    [Description("Keep the newest N checkpoints, so that a damaged newest one falls back to the next")]
    [DefaultValue(2)]
    public int Keep { get; init; } = 2;

    [CommandOption("--distributed")]
    [Description("Data-parallel on the ranks mpirun started (mpirun -np 4 nfnet train --distributed …); rank 0 prints and writes")]
    public bool Distributed { get; init; }

    public bool ImageData => Images is not null || List is not null;

    public override Spectre.Console.ValidationResult Validate()
    {
        string? Fail()
        {
            if (Images is not null && (List is not null || ValList is not null)) return "give --images or --list, not both";
            if ((List is null) != (ValList is null)) return "--list and --val-list go together";
            if (Data is not null && ImageData) return "--data (Fashion-MNIST) and --images/--list are different data: give one";
            if (!ImageData)
            {
                foreach (var (set, name) in new[] { (Model is not null, "--model"), (Pretrained is not null, "--pretrained"), (FreezeBackbone, "--freeze-backbone"),
                             (Resolution is not null, "--resolution"), (Channels is not null, "--channels"), (Augment is not null, "--augment"),
                             (Workers is not null, "--workers"), (SkipUnreadable, "--skip-unreadable"), (LearningRate is not null, "--lr"),
                             (LayerDecay is not null, "--layer-decay"), (GradCheckpointing, "--grad-checkpointing"), (Drop is not null, "--drop"),
                             (DropPath is not null, "--drop-path") })
                    if (set) return $"{name} applies to image data (--images or --list), not to Fashion-MNIST's IDX files";
            }
            else if (Limit is not null) return "--limit applies to Fashion-MNIST (--data) only; an image folder trains on all its files";
            if (Model is not null && Width is not null) return "--width sizes the demo NFNet; it does not apply with --model";
            if (Model is null && (Drop is not null || DropPath is not null)) return "--drop and --drop-path set a registry model's rates: give --model";
            if (LayerDecay is { } decay && !(decay > 0 && decay <= 1)) return $"--layer-decay must be in (0, 1], got {decay}";
            if (Drop is { } drop && !(drop >= 0 && drop < 1)) return $"--drop must be in [0, 1), got {drop}";
            if (DropPath is { } dropPath && !(dropPath >= 0 && dropPath < 1)) return $"--drop-path must be in [0, 1), got {dropPath}";
            if (Epochs is < 1 or > 100_000) return $"--epochs must be 1 to 100,000, got {Epochs}";
            if (Batch is < 1 or > 65_536) return $"--batch must be 1 to 65,536, got {Batch}";
            if (Keep < 1) return $"--keep must be at least 1, got {Keep}";
            if (CheckpointEvery < 0) return $"--checkpoint-every must be 0 (every epoch) or more, got {CheckpointEvery}";
            if (Limit is < 1) return $"--limit must be at least 1, got {Limit}";
            if (LearningRate is { } lr && !(double.IsFinite(lr) && lr > 0)) return $"--lr must be a finite number > 0, got {lr}";
            if (Resolution is < 16 or > 4096) return $"--resolution must be 16 to 4096 pixels, got {Resolution}";
            if (Workers is < 1 or > 256) return $"--workers must be 1 to 256, got {Workers}";
            if (Width is { } width && (width is < 24 or > 1024 || width % 8 != 0)) return $"--width must be a multiple of 8 from 24 to 1024, got {width}";
            if (Augment is not (null or "paper" or "pad-crop")) return $"--augment must be paper or pad-crop, got '{Augment}'";
            if (Channels is not (null or 1 or 3)) return $"--channels must be 1 or 3, got {Channels}";
            if (Precision.Trim().ToLowerInvariant() is not ("auto" or "fp32" or "mixed" or "bf16")) return $"--precision must be auto, fp32, mixed or bf16, got '{Precision}'";
            if (Fp32 && Precision.Trim().ToLowerInvariant() is not ("auto" or "fp32")) return $"--fp32 and --precision {Precision} contradict each other: give one";
            return null;
        }
        return Fail() is { } message ? Spectre.Console.ValidationResult.Error(message) : Spectre.Console.ValidationResult.Success();
    }
}

/// <summary><c>nfnet train</c>: timm's <c>train.py</c> — Fashion-MNIST, an image folder or a list file, any registry
/// model, the paper's recipe, checkpoints and resume, metrics and plots, under mpirun with --distributed.</summary>
public sealed class TrainCommand : Command<TrainSettings>
{
    public override int Execute(CommandContext context, TrainSettings settings, CancellationToken cancellationToken) =>
        settings.ImageData ? ImageTraining.Run(settings) : FashionMnistTraining.Run(settings);
}
