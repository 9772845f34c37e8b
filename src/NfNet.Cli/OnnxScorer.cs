using NfNet.Onnx.Runtime;
using NfNet.Training.Prediction;

namespace NfNet.Cli;

/// <summary>An exported ONNX file as an <see cref="IImageScorer"/>: ONNX Runtime's session and the exported metadata's
/// evaluation transform (<see cref="ImagePreprocessor"/>), so that <c>nfnet predict --onnx</c> batches like the
/// TorchSharp path.</summary>
internal sealed class OnnxScorer(OnnxClassifier classifier) : IImageScorer
{
    public int SampleLength => classifier.Channels * classifier.Height * classifier.Width;

    public int NumClasses => classifier.NumClasses;

    public void Preprocess(ReadOnlySpan<byte> encoded, string name, Span<float> destination)
    {
        try { ImagePreprocessor.Load(encoded, name, classifier).CopyTo(destination); }
        catch (InvalidDataException e)
        {
            var prefix = $"'{name}': ";
            throw new NfNet.Training.Images.ImageDecodeException(name, e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message);
        }
    }

    public float[] Logits(ReadOnlySpan<float> batch, int count) => classifier.Logits(batch, count);

    public void Dispose() => classifier.Dispose();
}
