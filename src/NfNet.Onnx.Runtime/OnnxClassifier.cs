using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace NfNet.Onnx.Runtime;

/// <summary>One class of a prediction: its index, its name (when names were given) and its softmax probability.</summary>
public sealed record ClassScore(int Index, string? Name, float Probability);

/// <summary>
/// An image classifier exported by NfNet.NET (<c>model.ExportOnnx</c>), served with ONNX Runtime alone: the session
/// reads the file's metadata (input size and channels, class count, input and output names, and for F0–F7 the
/// preprocessing mean, std and crop), checks every input against it, runs any batch, and turns logits into top-k
/// classes with names. No TorchSharp or libtorch is involved.
/// </summary>
public sealed class OnnxClassifier : IDisposable
{
    private readonly InferenceSession _session;
    private readonly IReadOnlyList<string>? _classNames;

    /// <summary>Opens the model at <paramref name="path"/>.</summary>
    /// <param name="path">An ONNX file written by NfNet.NET's exporter.</param>
    /// <param name="classNames">Names of the classes in index order (optional).</param>
    /// <param name="options">ONNX Runtime session options (threads, execution providers); null for the defaults.</param>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an NfNet.NET export (its metadata is missing), or the class
    /// names do not match the class count.</exception>
    public OnnxClassifier(string path, IReadOnlyList<string>? classNames = null, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"no ONNX model at '{path}'", path);
        _session = options is null ? new InferenceSession(path) : new InferenceSession(path, options);
        try
        {
            var meta = _session.ModelMetadata.CustomMetadataMap;
            int Int(string key) => meta.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n
                : throw new InvalidDataException($"'{path}' has no '{key}' metadata: it was not exported by NfNet.NET");
            Height = Int("nfnet.height");
            Width = Int("nfnet.width");
            Channels = Int("nfnet.in_channels");
            NumClasses = Int("nfnet.num_classes");
            ModelName = meta.GetValueOrDefault("nfnet.model") ?? "";
            InputName = meta.GetValueOrDefault("nfnet.input") ?? _session.InputMetadata.Keys.Single();
            OutputName = meta.GetValueOrDefault("nfnet.output") ?? _session.OutputMetadata.Keys.Single();
            Mean = Floats(meta.GetValueOrDefault("nfnet.mean"));
            Std = Floats(meta.GetValueOrDefault("nfnet.std"));
            CropPercent = meta.TryGetValue("nfnet.crop_pct", out var crop) ? double.Parse(crop, CultureInfo.InvariantCulture) : null;
            CropMode = meta.GetValueOrDefault("nfnet.crop_mode") ?? "center";
            if (NumClasses <= 0) throw new InvalidDataException($"'{path}' records {NumClasses} classes in its metadata");
            if (_session.OutputMetadata.TryGetValue(OutputName, out var output) && output.Dimensions is { Length: 2 } dims && dims[1] > 0 && dims[1] != NumClasses)
                throw new InvalidDataException($"'{path}': its metadata says {NumClasses} classes, but the graph's output '{OutputName}' has {dims[1]} per image");
            if (classNames is not null && classNames.Count != NumClasses)
                throw new InvalidDataException($"{classNames.Count} class names for a model of {NumClasses} classes ('{path}')");
            _classNames = classNames;
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>The exported model's name (its configuration's).</summary>
    public string ModelName { get; }
    /// <summary>Input height, fixed at export.</summary>
    public int Height { get; }
    /// <summary>Input width, fixed at export.</summary>
    public int Width { get; }
    /// <summary>Input channels.</summary>
    public int Channels { get; }
    /// <summary>Classes (logits per image).</summary>
    public int NumClasses { get; }
    /// <summary>The graph's input name.</summary>
    public string InputName { get; }
    /// <summary>The graph's output name.</summary>
    public string OutputName { get; }
    /// <summary>Per-channel preprocessing mean of the pretrained configuration, when the file records one.</summary>
    public IReadOnlyList<float>? Mean { get; }
    /// <summary>Per-channel preprocessing standard deviation, when recorded.</summary>
    public IReadOnlyList<float>? Std { get; }
    /// <summary>The evaluation crop fraction (timm's <c>crop_pct</c>), when recorded.</summary>
    public double? CropPercent { get; }

    /// <summary>The model's evaluation crop mode (timm's <c>crop_mode</c>): <c>squash</c> resizes both sides to
    /// <c>size / crop_pct</c>, ignoring the aspect ratio (timm's <c>dm_nfnet_*</c>); <c>center</c> (also for files without
    /// the entry) resizes the shorter side.</summary>
    public string CropMode { get; }

    /// <summary>Logits [batch, classes] (row-major) for <paramref name="batch"/> images [batch, C, H, W] in
    /// <paramref name="images"/> (already preprocessed).</summary>
    /// <exception cref="ArgumentException">The data's length is not batch × C × H × W of the exported size.</exception>
    public float[] Logits(ReadOnlySpan<float> images, int batch)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "the batch must be positive");
        var perImage = (long)Channels * Height * Width;
        if (images.Length != batch * perImage)
            throw new ArgumentException($"expected {batch} images of [{Channels}, {Height}, {Width}] ({batch * perImage} values, " +
                $"the size {ModelName} was exported for), got {images.Length} values", nameof(images));
        var tensor = new DenseTensor<float>(images.ToArray(), new[] { batch, Channels, Height, Width });
        using var results = _session.Run(new[] { NamedOnnxValue.CreateFromTensor(InputName, tensor) }, new[] { OutputName });
        var output = results.Single().AsTensor<float>();
        // The metadata's class count slices the logits per image: a graph that disagrees would hand one image's logits to another.
        if (output.Dimensions.Length != 2 || output.Dimensions[0] != batch || output.Dimensions[1] != NumClasses)
            throw new InvalidDataException($"the model '{ModelName}' returned [{string.Join(", ", output.Dimensions.ToArray())}] for {batch} images, " +
                $"but its metadata says {NumClasses} classes: the file's metadata does not describe its graph");
        return output.ToArray();
    }

    /// <summary>The <paramref name="k"/> most probable classes of each image, most probable first (softmax over the logits).</summary>
    public IReadOnlyList<IReadOnlyList<ClassScore>> TopK(ReadOnlySpan<float> images, int batch, int k = 5)
    {
        var logits = Logits(images, batch);
        var result = new List<IReadOnlyList<ClassScore>>(batch);
        for (var i = 0; i < batch; i++) result.Add(TopK(logits.AsSpan(i * NumClasses, NumClasses), k, _classNames));
        return result;
    }

    /// <summary>The <paramref name="k"/> most probable classes of one row of logits (a numerically stable softmax).</summary>
    public static IReadOnlyList<ClassScore> TopK(ReadOnlySpan<float> logits, int k, IReadOnlyList<string>? names = null)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be positive");
        var max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        var exp = new double[logits.Length];
        var sum = 0.0;
        for (var i = 0; i < logits.Length; i++) sum += exp[i] = Math.Exp(logits[i] - max);
        return Enumerable.Range(0, logits.Length).OrderByDescending(i => exp[i]).ThenBy(i => i).Take(k)
            .Select(i => new ClassScore(i, names?[i], (float)(exp[i] / sum))).ToArray();
    }

    private static float[]? Floats(string? text) =>
        text?.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
