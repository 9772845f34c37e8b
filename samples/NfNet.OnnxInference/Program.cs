// Classifies image files with a model exported by NfNet.NET (model.ExportOnnx) and ONNX Runtime only:
//   dotnet run -c Release --project samples/NfNet.OnnxInference -- MODEL.onnx IMAGE [IMAGE ...] [--labels FILE] [--top K]
// Preprocessing (resize, centre crop, normalise) follows the model's exported metadata.
using NfNet.Onnx.Runtime;

string? model = null, labelsFile = null;
var top = 5;
var images = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--labels" when i + 1 < args.Length: labelsFile = args[++i]; break;
        case "--top" when i + 1 < args.Length && int.TryParse(args[i + 1], out var k) && k > 0: top = k; i++; break;
        case "-h" or "--help":
            Console.WriteLine("usage: NfNet.OnnxInference MODEL.onnx IMAGE [IMAGE ...] [--labels FILE (one name per line)] [--top 5]");
            return 0;
        default:
            if (args[i].StartsWith("--", StringComparison.Ordinal)) { Console.Error.WriteLine($"unknown or incomplete option '{args[i]}' (try --help)"); return 2; }
            if (model is null) model = args[i]; else images.Add(args[i]);
            break;
    }
}
if (model is null || images.Count == 0)
{
    Console.Error.WriteLine("give a model and at least one image (try --help)");
    return 2;
}

try
{
    var labels = labelsFile is null ? null : File.ReadAllLines(labelsFile).Where(l => l.Length > 0).ToArray();
    using var classifier = new OnnxClassifier(model, labels);
    Console.WriteLine($"{classifier.ModelName}: {classifier.Channels}x{classifier.Height}x{classifier.Width} -> {classifier.NumClasses} classes");
    // One batch of every image: the exported graph has a symbolic batch dimension.
    var pixels = images.SelectMany(path => ImagePreprocessor.Load(path, classifier)).ToArray();
    var results = classifier.TopK(pixels, images.Count, top);
    for (var i = 0; i < images.Count; i++)
        Console.WriteLine($"{images[i]}: " + string.Join(", ", results[i].Select(s => $"{s.Name ?? s.Index.ToString()} {s.Probability:P1}")));
    return 0;
}
catch (Exception e) when (e is FileNotFoundException or InvalidDataException or ArgumentException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
