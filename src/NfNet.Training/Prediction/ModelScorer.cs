using NfNet.Devices;
using NfNet.Models;
using NfNet.Training.Images;
using static TorchSharp.torch;

namespace NfNet.Training.Prediction;

// A TorchSharp model as an IImageScorer: frozen for inference, its own evaluation transform (timm's resolve_data_config
// of its pretrained configuration), and the precision asked for (by default what PrecisionMode.Auto chooses for its device).
internal sealed class ModelScorer : IImageScorer
{
    private readonly ImageClassifier _model;
    private readonly bool _ownsModel;
    private readonly ImagePipeline _pipeline;
    private readonly Device _device;
    private readonly ScalarType _computeType;

    public ModelScorer(ImageClassifier model, bool ownsModel, int? resolution, PrecisionMode precision)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.NumClasses < 1) throw new ArgumentException($"{model.ModelName} has no classifier to predict with", nameof(model));
        _model = model;
        _ownsModel = ownsModel;
        model.OptimizeForInference();
        _pipeline = ImagePipeline.ForModel(model.PretrainedConfig, resolution, new ChannelPolicy(model.InChannels));
        var parameter = model.parameters().First();
        _device = parameter.device;
        _computeType = parameter.dtype == ScalarType.Float32
            ? Precision.ComputeType(Precision.Choose(precision, _device).Mode) : parameter.dtype;
    }

    public int SampleLength => _pipeline.SampleLength;

    public int NumClasses => (int)_model.NumClasses;

    public void Preprocess(ReadOnlySpan<byte> encoded, string name, Span<float> destination)
    {
        var image = _pipeline.Transform(ImageDecoder.Decode(encoded, _pipeline.Policy, name), Random.Shared); // no random draws in evaluation
        if (image.Width != _pipeline.Width || image.Height != _pipeline.Height)
            throw new ImageDecodeException(name, $"is {image.Width}x{image.Height} after the evaluation transform, not {_pipeline.Width}x{_pipeline.Height}");
        _pipeline.WriteNormalized(image, destination);
    }

    public float[] Logits(ReadOnlySpan<float> batch, int count)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var images = tensor(batch.ToArray(), new long[] { count, _pipeline.Channels, _pipeline.Height, _pipeline.Width }).to(_computeType).to(_device);
        return _model.forward(images).to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    public void Dispose()
    {
        if (_ownsModel) _model.Dispose();
    }
}
