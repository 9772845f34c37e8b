using Google.Protobuf;
using NfNet.IO;
using NfNet.Layers;
using NfNet.Models;
using NfNet.Weights;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>
/// Writes an NfNet.NET model as an ONNX file from its module tree (TorchSharp cannot trace), folded for inference:
/// every scaled weight-standardized convolution becomes a plain <c>Conv</c> whose initializer is the standardized
/// weight times its gain and the constant factors folded into it (the previous activation's gamma, the block's beta),
/// so the graph holds no standardization arithmetic; the Squeeze-Excite gain, <c>alpha</c> and <c>skipinit_gain</c>
/// are one scalar multiply; stochastic depth and dropout are identities; TF "SAME" padding becomes explicit (asymmetric
/// where it is) <c>pads</c> for the declared input size.
/// </summary>
/// <remarks>
/// The NFNet family (F0–F7 and any <see cref="NFNetConfig"/>), BN-ResNet, EfficientNetV2 and CoAtNet (batch norm
/// folded) and NF-ResNet are exported, and so is a model of your own built from the layers the exporter writes, or with
/// writers you register (<see cref="OnnxModuleWriters"/>); a module without a writer raises
/// <see cref="OnnxExportException"/> naming its path. The file is written atomically: a failed export leaves no file.
/// </remarks>
public static class OnnxExporter
{
    /// <summary>Exports <paramref name="model"/> for <paramref name="height"/> × <paramref name="width"/> images with the
    /// default options (opset 20, dynamic batch).</summary>
    public static void ExportOnnx(this ImageClassifier model, string path, int height, int width) =>
        ExportOnnx(model, path, height, width, new OnnxExportOptions());

    /// <summary>Exports <paramref name="model"/> for <paramref name="height"/> × <paramref name="width"/> images.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or the opset is below 13.</exception>
    /// <exception cref="OnnxExportException">The model is in training mode, on the meta device, not exportable, or the
    /// file cannot be written.</exception>
    public static void ExportOnnx(this ImageClassifier model, string path, int height, int width, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        var proto = Build(model, height, width, options);
        Write(proto, path);
    }

    /// <summary>The ONNX model of <paramref name="model"/> in memory (what <see cref="ExportOnnx(ImageClassifier, string, int, int, OnnxExportOptions)"/> writes).</summary>
    public static ModelProto Build(ImageClassifier model, int height, int width, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"the export size must be positive, got {height}x{width}");
        if (options.Opset < 13) throw new ArgumentOutOfRangeException(nameof(options), options.Opset, "opset 13 or newer is needed");
        if (model.training)
            throw new OnnxExportException($"{model.GetName()} is in training mode: call model.eval() before exporting (dropout and stochastic depth must be identities)");
        if (model.parameters().FirstOrDefault() is { } p && p.device_type == DeviceType.META)
            throw new OnnxExportException($"{model.GetName()} is on the meta device: it has no weights to export");
        var graph = new OnnxGraph(options.Opset);
        // The image input is the same for every model: [batch, channels, height, width].
        graph.Graph.Input.Add(OnnxGraph.Value(options.InputName, options.DynamicBatch, 1, model.InChannels, height, width));
        using (no_grad())
        {
            var context = new OnnxWriteContext(model, graph, height, width);
            var output = context.Write(model, "", options.InputName);
            graph.Output(output, options.OutputName);
            graph.Graph.Output.Add(OnnxGraph.Value(options.OutputName, options.DynamicBatch, 1, model.NumClasses > 0 ? model.NumClasses : model.PooledFeatures));
        }

        var result = new ModelProto
        {
            IrVersion = options.Opset >= 21 ? 10 : 9,
            ProducerName = "NfNet.NET",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph.Graph,
            DocString = $"{model.GetName()} exported by NfNet.NET for {height}x{width} inputs",
        };
        result.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        foreach (var (k, v) in Metadata(model, height, width, options))
            result.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return result;
    }

    private static IEnumerable<(string, string)> Metadata(ImageClassifier model, int height, int width, OnnxExportOptions options)
    {
        static string Number(double v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        var data = model.PretrainedConfig;
        // RGB statistics do not apply to a grey (or other) input: the pipelines' single-channel default, 0.5 ± 0.5.
        var (mean, std) = data.Mean.Count == model.InChannels ? (data.Mean, data.Std)
            : (Enumerable.Repeat(0.5, model.InChannels).ToArray(), Enumerable.Repeat(0.5, model.InChannels).ToArray());
        var meta = new Dictionary<string, string>
        {
            ["nfnet.model"] = model.ModelName,
            ["nfnet.registry_name"] = ModelRegistry.Contains(model.ModelName) ? model.ModelName : "",
            ["nfnet.height"] = height.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.width"] = width.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.in_channels"] = model.InChannels.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.num_classes"] = model.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.input"] = options.InputName,
            ["nfnet.output"] = options.OutputName,
            // The model's own evaluation preprocessing (timm's pretrained_cfg), for a runtime that has only the file.
            ["nfnet.mean"] = string.Join(",", mean.Select(Number)),
            ["nfnet.std"] = string.Join(",", std.Select(Number)),
            ["nfnet.crop_pct"] = Number(data.CropPercent),
            ["nfnet.crop_mode"] = data.CropMode,
            ["nfnet.interpolation"] = data.Interpolation,
        };
        foreach (var (k, v) in options.Metadata ?? new Dictionary<string, string>()) meta[k] = v;
        return meta.Select(kv => (kv.Key, kv.Value));
    }

    private static void Write(ModelProto proto, string path)
    {
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OnnxExportException($"'{path}' is not a usable file path: {e.Message}", e);
        }
        try
        {
            AtomicFile.WriteVia(full, temp =>
            {
                using var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
                proto.WriteTo(file);
                file.Flush(flushToDisk: true);
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxExportException($"cannot write the ONNX file '{full}': {e.Message}", e);
        }
    }
}
