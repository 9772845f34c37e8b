using System.ComponentModel;
using NfNet.Onnx.Runtime;
using NfNet.Training.Images;
using Spectre.Console.Cli;
using static TorchSharp.torch;

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
        var rows = new List<PredictionRow>();
        if (s.Onnx is { } onnx)
        {
            ModelSource.Exists(onnx, "--onnx");
            using var classifier = new OnnxClassifier(onnx, labels);
            foreach (var file in files)
            {
                var top = classifier.TopK(ImagePreprocessor.Load(file, classifier), 1, Math.Min(s.Top, classifier.NumClasses))[0];
                rows.Add(new PredictionRow(file, top.Select(t => new ClassProbability(t.Index, t.Name, t.Probability)).ToArray()));
            }
        }
        else
        {
            using var model = ModelSource.Load(s);
            if (labels is not null && labels.Length != model.NumClasses)
                throw new CliException($"--labels has {labels.Length} names, the model {model.NumClasses} classes");
            var data = model.PretrainedConfig;
            var pipeline = ImagePipeline.ForModel(data, channels: new ChannelPolicy(model.InChannels));
            var buffer = new float[pipeline.SampleLength];
            var k = (int)Math.Min(s.Top, model.NumClasses);
            using var _ = no_grad();
            foreach (var file in files)
            {
                using var scope = NewDisposeScope();
                pipeline.Load(file, new Random(0), buffer);
                var probabilities = nn.functional.softmax(model.call(tensor(buffer).reshape(1, pipeline.Channels, pipeline.Height, pipeline.Width)).to(ScalarType.Float32), 1);
                var (values, indices) = probabilities.topk(k, 1);
                var p = values.data<float>().ToArray();
                var index = indices.data<long>().ToArray();
                rows.Add(new PredictionRow(file, Enumerable.Range(0, k).Select(j => new ClassProbability((int)index[j], labels?[index[j]], p[j])).ToArray()));
            }
        }
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
