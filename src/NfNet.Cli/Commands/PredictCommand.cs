using System.ComponentModel;
using NfNet.Onnx.Runtime;
using NfNet.Training.Prediction;
using Spectre.Console.Cli;

namespace NfNet.Cli.Commands;

/// <summary><c>nfnet predict</c>'s options.</summary>
public sealed class PredictSettings : ModelSourceSettings
{
    [CommandArgument(0, "<IMAGES>")]
    [Description("Image files, or folders (searched recursively for .jpg .jpeg .png .webp .bmp)")]
    public string[] Inputs { get; init; } = Array.Empty<string>();

    [CommandOption("--onnx <FILE>")]
    [Description("An exported ONNX file, run in ONNX Runtime (no TorchSharp on this path)")]
    public string? Onnx { get; init; }

    [CommandOption("--labels <FILE>")]
    [Description("Class names, one per line, in index order")]
    public string? Labels { get; init; }

    [CommandOption("-k|--top <K>")]
    [DefaultValue(5)]
    public int Top { get; init; } = 5;

    [CommandOption("--output <FILE>")]
    [Description("Write the predictions as CSV (.csv) or JSON (.json)")]
    public string? Output { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        Top <= 0 ? Spectre.Console.ValidationResult.Error("--top must be positive")
        : Inputs.Length == 0 ? Spectre.Console.ValidationResult.Error("give image files or folders")
        : Spectre.Console.ValidationResult.Success();
}

/// <summary><c>nfnet predict</c>: timm's <c>inference.py</c> — the top-k classes of image files, from a checkpoint,
/// weights, published weights or an ONNX file.</summary>
public sealed class PredictCommand : Command<PredictSettings>
{
    private static readonly string[] Extensions = { ".jpg", ".jpeg", ".png", ".webp", ".bmp" };

    public override int Execute(CommandContext context, PredictSettings s, CancellationToken cancellationToken)
    {
        if (s.Onnx is not null && (s.Model is not null || s.Checkpoint is not null || s.Weights is not null || s.Pretrained is { IsSet: true }))
            throw new CliException("--onnx is the model: --model, --checkpoint, --weights and --pretrained do not apply");
        var files = s.Inputs.SelectMany(Expand).ToArray();
        if (files.Length == 0) throw new CliException($"no image files in {string.Join(", ", s.Inputs)}");
        string[]? labels = null;
        if (s.Labels is { } l)
        {
            ModelSource.Exists(l, "--labels");
            labels = File.ReadAllLines(l).Where(x => x.Length > 0).ToArray();
        }
        // Both paths go through the library's predictor: images decoded on every core, scored in batches of up to 32.
        ImagePredictor predictor;
        if (s.Onnx is { } onnx)
        {
            ModelSource.Exists(onnx, "--onnx");
            var classifier = new OnnxClassifier(onnx, labels);
            predictor = new ImagePredictor(new OnnxScorer(classifier), Options(classifier.NumClasses));
        }
        else
        {
            var model = ModelSource.Load(s);
            if (labels is not null && labels.Length != model.NumClasses)
            {
                model.Dispose();
                throw new CliException($"--labels has {labels.Length} names, the model {model.NumClasses} classes");
            }
            predictor = ImagePredictor.ForModel(model, Options((int)model.NumClasses), ownsModel: true);
        }
        ImagePredictorOptions Options(int classes) => new() { MaxBatch = 32, TopK = Math.Min(s.Top, classes), Labels = labels };
        IReadOnlyList<Prediction> predictions;
        using (predictor) predictions = predictor.PredictFiles(files);
        var rows = files.Zip(predictions, (file, p) => new PredictionRow(file, p.Top.Select(t => new ClassProbability(t.Index, t.Name, t.Probability)).ToArray())).ToList();
        foreach (var row in rows)
            Console.WriteLine($"{row.File}: " + string.Join(", ", row.Top.Select(t => $"{t.Name ?? t.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)} {t.Probability:P1}")));
        if (s.Output is { } output)
        {
            Results.Write(output, rows, "file,rank,class,name,probability",
                r => string.Join("\n", r.Top.Select((t, i) => $"{Csv(r.File)},{i + 1},{t.Index},{Csv(t.Name ?? "")},{t.Probability:F6}")));
            Console.WriteLine($"  predictions  {Path.GetFullPath(output)}");
        }
        return 0;
    }

    private static string Csv(string value) => value.Contains(',') || value.Contains('"') ? $"\"{value.Replace("\"", "\"\"")}\"" : value;

    private static IEnumerable<string> Expand(string input)
    {
        if (Directory.Exists(input))
            return Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories)
                .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal);
        if (File.Exists(input)) return new[] { input };
        throw new CliException($"no image file or folder at '{input}'");
    }

    private sealed record ClassProbability(int Index, string? Name, float Probability);

    private sealed record PredictionRow(string File, IReadOnlyList<ClassProbability> Top);
}
