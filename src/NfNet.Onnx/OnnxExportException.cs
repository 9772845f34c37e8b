namespace NfNet.Onnx;

/// <summary>A model cannot be exported as asked: it is in training mode, on the meta device, contains a module the
/// exporter does not know (the message names it and its path in the model), or the file cannot be written. No file was
/// written.</summary>
public sealed class OnnxExportException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public OnnxExportException(string message, Exception? inner = null) : base(message, inner) { }
}
