using NfNet.Cli.Commands;
using NfNet.Cli.Runs;
using NfNet.Platform;
using Spectre.Console.Cli;

namespace NfNet.Cli;

/// <summary>
/// The <c>nfnet</c> tool: timm's scripts for .NET — <c>train</c>, <c>validate</c>, <c>predict</c>, <c>export</c>,
/// <c>benchmark</c>, <c>info</c>/<c>models</c> and <c>write-images</c>. Every error a user can cause is one line naming
/// the problem and a non-zero exit code (1; 2 for a command line that does not parse); <c>--verbose</c> adds the stack
/// trace.
/// </summary>
public static class CliApp
{
    /// <summary>Runs the tool with <paramref name="args"/>; returns the exit code.</summary>
    public static int Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        // Before the first tensor: libgomp reads it when libtorch loads (docs/platform.md, "Several processes or threads").
        OpenMpWaitingNote = OpenMpWaiting.LimitSpinning();
        var verbose = args.Contains("--verbose") || args.Contains("-v");
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("nfnet");
            config.UseStrictParsing();
            config.AddCommand<TrainCommand>("train")
                .WithDescription("Train or fine-tune a model: Fashion-MNIST (default), an image folder or list files (timm's train.py)")
                .WithExample("train")
                .WithExample("train", "--images", "my-photos", "--model", "dm_nfnet_f0", "--pretrained", "hf-hub:timm/dm_nfnet_f0.dm_in1k", "--resolution", "192", "--epochs", "5", "--batch", "32")
                .WithExample("train", "--out", "runs/a", "--resume");
            config.AddCommand<ValidateCommand>("validate")
                .WithDescription("Top-1, top-5 and loss of a checkpoint or weights with the model's own evaluation transform (timm's validate.py)")
                .WithExample("validate", "--checkpoint", "nfnet-demo-output/checkpoint.nfckpt", "--data", "/usr/share/datasets/fashion-mnist")
                .WithExample("validate", "--model", "dm_nfnet_f0", "--pretrained", "--images", "imagenet/val", "--results-file", "f0.json");
            config.AddCommand<PredictCommand>("predict")
                .WithDescription("Top-k classes of image files from a checkpoint, weights or an ONNX file (timm's inference.py)")
                .WithExample("predict", "--onnx", "f0.onnx", "--labels", "imagenet.txt", "cat.jpg", "dog.png")
                .WithExample("predict", "--checkpoint", "run/checkpoint.nfckpt", "photos/", "--output", "predictions.csv");
            config.AddCommand<ExportCommand>("export")
                .WithDescription("Export to ONNX (checked in ONNX Runtime against TorchSharp) and/or safetensors (timm's onnx_export.py)")
                .WithExample("export", "--model", "dm_nfnet_f0", "--pretrained", "--onnx", "f0.onnx")
                .WithExample("export", "--checkpoint", "run/checkpoint.nfckpt", "--safetensors", "model.safetensors", "--onnx", "model.onnx", "--opset", "17");
            config.AddCommand<BenchmarkCommand>("benchmark")
                .WithDescription("Inference and training images/s, step time and peak memory of any registry model (timm's benchmark.py)")
                .WithExample("benchmark", "--model", "dm_nfnet_f0", "--precision", "mixed", "--resolution", "192", "--batch", "32", "--csv", "f0.csv");
            config.AddCommand<InfoCommand>("info")
                .WithDescription("One model's summary (a registry name or a checkpoint); without one, the registry")
                .WithExample("info", "dm_nfnet_f3");
            config.AddCommand<ModelsCommand>("models").WithDescription("The registry: every model with its parameters, MACs and published weights");
            config.AddCommand<WriteImagesCommand>("write-images")
                .WithDescription("Write Fashion-MNIST as an image folder of PNG/JPEG files")
                .WithExample("write-images", "fm-images", "--image-format", "mixed");
            config.SetExceptionHandler((exception, _) => Fail(exception, verbose, args));
        });
        if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 160; // tables in logs and pipes keep their rows whole
        // A tool's choice, not the library's: keep freed tensor memory for the next step (docs/platform.md).
        if (args.FirstOrDefault() is "train" or "validate" or "benchmark") NativeAllocator.TuneForTensors();
        try
        {
            return app.Run(args);
        }
        finally
        {
            RunContext.Current?.Dispose();
        }
    }

    /// <summary>What the tool did about OpenMP's spinning (<see cref="OpenMpWaiting.LimitSpinning"/>), for the run's first lines.</summary>
    internal static string OpenMpWaitingNote { get; private set; } = "";

    private static int Fail(Exception exception, bool verbose, string[] args)
    {
        var e = exception is CommandRuntimeException { InnerException: { } inner } ? inner : exception;
        // A value that does not convert to its option's type (--lr inf, --batch 1e9) is a command-line error like any other.
        var conversion = e is ArgumentException { InnerException: FormatException or OverflowException } && e.TargetSite?.DeclaringType?.Namespace == "System.ComponentModel";
        var parse = e is CommandAppException || conversion;
        var message = conversion && !verbose ? ConversionMessage(e, args) : verbose ? e.ToString() : e.Message.Trim();
        Console.Error.WriteLine($"nfnet: {RunContext.Prefix}{message}");
        if (parse) Console.Error.WriteLine("  (nfnet COMMAND --help shows the options and examples)");
        var code = parse ? 2 : 1;
        RunContext.AbortOthers(code); // one failing rank stops all of them, instead of leaving them waiting in a collective
        return code;
    }

    // The converter says "inf is not a valid value for Double." without the option: the option is the one the value followed.
    private static string ConversionMessage(Exception e, string[] args)
    {
        var value = e.Message.Split(" is not a valid value for ", 2)[0];
        var type = e.Message.Split(" is not a valid value for ", 2) is [_, var rest] ? rest.Split('.')[0] : "its type";
        var at = Array.FindIndex(args, 1, a => a == value);
        var option = at > 0 && args[at - 1].StartsWith('-') ? args[at - 1] : "an option";
        var what = type switch { "Double" => "a finite number", "Int32" => "a whole number from -2,147,483,648 to 2,147,483,647", "Int64" => "a whole number", _ => $"a {type}" };
        return $"{option}: '{value}' is not {what}";
    }
}
