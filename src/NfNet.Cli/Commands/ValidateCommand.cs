using System.ComponentModel;
using System.Text.Json;
using NfNet.IO;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Images;
using Spectre.Console.Cli;

namespace NfNet.Cli.Commands;

/// <summary><c>nfnet validate</c>'s options.</summary>
public sealed class ValidateSettings : ModelSourceSettings
{
    [CommandOption("--images <DIR>")]
    [Description("An image folder to evaluate on (one subfolder per class, sorted as at training)")]
    public string? Images { get; init; }

    [CommandOption("--list <FILE>")]
    [Description("A list file of path,label lines to evaluate on")]
    public string? List { get; init; }

    [CommandOption("--data <DIR>")]
    [Description("Fashion-MNIST's IDX files: the 10,000 test images (for models trained with nfnet train on Fashion-MNIST)")]
    public string? Data { get; init; }

    [CommandOption("--resolution <PX>")]
    [Description("Evaluation size (default: the model's test size from its pretrained configuration)")]
    public int? Resolution { get; init; }

    [CommandOption("--batch <N>")]
    [DefaultValue(64)]
    public int Batch { get; init; } = 64;

    [CommandOption("--workers <N>")]
    [DefaultValue(2)]
    public int Workers { get; init; } = 2;

    [CommandOption("--precision <MODE>")]
    [Description("auto (bf16 activations where the CPU or GPU computes bf16 natively, float32 elsewhere), fp32 or mixed")]
    [DefaultValue("auto")]
    public string Precision { get; init; } = "auto";

    [CommandOption("--fp32")]
    [Description("The same as --precision fp32")]
    public bool Fp32 { get; init; }

    [CommandOption("--results-file <FILE>")]
    [Description("Write the results as CSV (.csv) or JSON (.json)")]
    public string? ResultsFile { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        new[] { Images, List, Data }.Count(v => v is not null) != 1 ? Spectre.Console.ValidationResult.Error("give one of --images, --list and --data")
        : Data is not null && Resolution is not null ? Spectre.Console.ValidationResult.Error("--resolution does not apply to --data (Fashion-MNIST is 32 px)")
        : Batch <= 0 ? Spectre.Console.ValidationResult.Error("--batch must be positive")
        : Spectre.Console.ValidationResult.Success();
}

/// <summary><c>nfnet validate</c>: timm's <c>validate.py</c> — top-1, top-5 and loss of a checkpoint or weights on a
/// folder, a list or Fashion-MNIST, with the model's own evaluation transform.</summary>
public sealed class ValidateCommand : Command<ValidateSettings>
{
    public override int Execute(CommandContext context, ValidateSettings s, CancellationToken cancellationToken)
    {
        using var model = ModelSource.Load(s, Console.WriteLine);
        IDataSource data;
        string what;
        if (s.Data is { } idx)
        {
            data = FashionMnist.Load(idx, "t10k");
            what = $"Fashion-MNIST test images in {idx}";
        }
        else
        {
            IImageDataset set = s.Images is { } folder ? new ImageFolderDataset(folder) : new ImageListDataset(s.List!);
            if (model.NumClasses != set.Classes.Count)
                throw new CliException($"the model has {model.NumClasses} classes, the data {set.Classes.Count} ({string.Join(", ", set.Classes.Take(5))}{(set.Classes.Count > 5 ? ", …" : "")})");
            var channels = new ChannelPolicy(model.InChannels);
            data = new ImageDataSource(set, ImagePipeline.ForModel(model.PretrainedConfig, s.Resolution, channels), new ImageLoaderOptions { Workers = s.Workers });
            what = $"{set.Samples.Count:N0} images in {s.Images ?? s.List}";
        }
        var choice = NfNet.Devices.Precision.Choose(s.Fp32 ? NfNet.Devices.PrecisionMode.Float32 : NfNet.Devices.Precision.Parse(s.Precision));
        var precision = choice.Mode;
        Console.WriteLine(choice);
        var result = ModelEvaluation.Evaluate(model, data, s.Batch, precision);
        (data as IDisposable)?.Dispose();
        Console.WriteLine($"{model.ModelName} on {what}: top-1 {result.Top1:P2}, top-5 {result.Top5:P2}, loss {result.Loss:F4} ({result.Count:N0} images)");
        if (s.ResultsFile is { } file)
        {
            var row = new ValidationRow(model.ModelName, result.Top1 * 100, result.Top5 * 100, result.Loss, result.Count);
            Results.Write(file, new[] { row }, "model,top1,top5,loss,count", r => $"{r.Model},{r.Top1:F3},{r.Top5:F3},{r.Loss:F5},{r.Count}");
            Console.WriteLine($"  results      {Path.GetFullPath(file)}");
        }
        return 0;
    }

    private sealed record ValidationRow(string Model, double Top1, double Top5, double Loss, long Count);
}

/// <summary>CSV or JSON results, by the file's extension, written atomically.</summary>
internal static class Results
{
    public static void Write<T>(string file, IReadOnlyList<T> rows, string header, Func<T, string> csv)
    {
        var extension = Path.GetExtension(file).ToLowerInvariant();
        if (extension == ".json")
            AtomicFile.Write(file, stream => JsonSerializer.Serialize(stream, rows, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        else if (extension == ".csv")
            AtomicFile.WriteAllLines(file, new[] { header }.Concat(rows.Select(csv)));
        else throw new CliException($"'{file}': results are written as .csv or .json");
    }
}
