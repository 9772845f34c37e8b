namespace NfNet.Training.Prediction;

/// <summary>
/// What an <see cref="ImagePredictor"/> runs: a model's evaluation transform and its batched forward. The library
/// provides one for TorchSharp models (<see cref="ImagePredictor.ForModel"/>); the <c>nfnet</c> tool wraps an ONNX
/// Runtime session in one; yours can wrap anything that turns images into logits.
/// </summary>
public interface IImageScorer : IDisposable
{
    /// <summary>Floats in one preprocessed image (channels × height × width).</summary>
    int SampleLength { get; }

    /// <summary>Logits per image.</summary>
    int NumClasses { get; }

    /// <summary>The evaluation transform of encoded image bytes into <paramref name="destination"/>
    /// (<see cref="SampleLength"/> floats). Called from many threads at once.</summary>
    /// <param name="encoded">The file's bytes (JPEG, PNG, WebP, BMP).</param>
    /// <param name="name">The image's name for error messages (a path, a request id).</param>
    /// <param name="destination">Where the CHW floats go.</param>
    void Preprocess(ReadOnlySpan<byte> encoded, string name, Span<float> destination);

    /// <summary>Logits [<paramref name="count"/>, <see cref="NumClasses"/>] row-major for <paramref name="count"/>
    /// preprocessed images in <paramref name="batch"/>. Called from one thread at a time.</summary>
    float[] Logits(ReadOnlySpan<float> batch, int count);
}
