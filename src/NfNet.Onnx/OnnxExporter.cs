using Google.Protobuf;
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
/// folded) and NF-ResNet are exported; another model raises <see cref="OnnxExportException"/> naming it. The file is written atomically: a failed
/// export leaves no file.
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
            switch (model)
            {
                case NFNet nfnet: NFNetExport.Write(nfnet, graph, options, height, width); break;
                case NfNet.Models.Baselines.BatchNormResNet resnet: ResNetExport.Write(resnet, graph, options, height, width); break;
                case NfNet.Models.Baselines.NFResNet nfResNet: NFResNetExport.Write(nfResNet, graph, options, height, width); break;
                case NfNet.Models.Baselines.EfficientNetV2 effnet: EfficientNetV2Export.Write(effnet, graph, options, height, width); break;
                case NfNet.Models.Baselines.CoAtNet coatnet: CoAtNetExport.Write(coatnet, graph, options, height, width); break;
                default:
                    throw new OnnxExportException($"the exporter does not know {model.GetType().Name} (the model itself, path ''): NfNet.Onnx " +
                        "exports the NFNet family and every comparison model of NfNet.Baselines");
            }
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
        var name = model is NFNet n ? n.Config.Name : model.GetName();
        var meta = new Dictionary<string, string>
        {
            ["nfnet.model"] = name,
            ["nfnet.registry_name"] = model is NFNet && NFNetVariants.Names.Contains(name) ? $"dm_nfnet_{name.ToLowerInvariant()}"
                : ModelRegistry.Contains(name) ? name : "",
            ["nfnet.height"] = height.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.width"] = width.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.in_channels"] = model.InChannels.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.num_classes"] = model.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nfnet.input"] = options.InputName,
            ["nfnet.output"] = options.OutputName,
        };
        if (model is NFNet && NFNetVariants.Names.Contains(name))
        {
            var pretrained = PretrainedVariants.Get($"dm_nfnet_{name.ToLowerInvariant()}");
            meta["nfnet.mean"] = string.Join(",", pretrained.Mean.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
            meta["nfnet.std"] = string.Join(",", pretrained.Std.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
            meta["nfnet.crop_pct"] = pretrained.CropPercent.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        }
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
        var directory = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(directory);
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                proto.WriteTo(file);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxExportException($"cannot write the ONNX file '{full}': {e.Message}", e);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
