namespace NfNet.Onnx;

/// <summary>How <see cref="OnnxExporter"/> writes a model.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>The ONNX opset (default 20, the first with a <c>Gelu</c> operator; from 13 to 20, GELU is written as
    /// its <c>Erf</c> (or <c>Tanh</c>) formula).</summary>
    public int Opset { get; init; } = 20;

    /// <summary>Whether the batch dimension is symbolic (<c>batch</c>), so one file serves any batch size (default true).
    /// Height and width are always fixed at export: TF "SAME" padding becomes explicit pads for that size.</summary>
    public bool DynamicBatch { get; init; } = true;

    /// <summary>The graph input's name.</summary>
    public string InputName { get; init; } = "images";

    /// <summary>The graph output's name (logits, or pooled features for a model without a classifier).</summary>
    public string OutputName { get; init; } = "logits";

    /// <summary>Extra metadata entries for the file (added to the model's name, size and preprocessing constants).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
