using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Images;

/// <summary>
/// An image data set as a TorchSharp map-style <see cref="torch.utils.data.Dataset"/>, for TorchSharp's own
/// <c>DataLoader</c>: item i is <c>{"data": [C, H, W] float32, "label": [1] int64}</c>, decoded and transformed by the
/// pipeline with random draws from (<see cref="Seed"/>, i).
/// </summary>
public sealed class ImageTorchDataset(IImageDataset dataset, ImagePipeline pipeline, int seed = 0) : torch.utils.data.Dataset
{
    /// <summary>The files and labels.</summary>
    public IImageDataset Images { get; } = dataset ?? throw new ArgumentNullException(nameof(dataset));
    /// <summary>Decode and transforms.</summary>
    public ImagePipeline Pipeline { get; } = pipeline ?? throw new ArgumentNullException(nameof(pipeline));
    /// <summary>Seed of the random transforms (change it per epoch for fresh augmentation).</summary>
    public int Seed { get; set; } = seed;

    /// <inheritdoc />
    public override long Count => Images.Samples.Count;

    /// <inheritdoc />
    /// <exception cref="ImageDecodeException">The file cannot be decoded.</exception>
    public override Dictionary<string, Tensor> GetTensor(long index)
    {
        var sample = Images.Samples[checked((int)index)];
        var pixels = new float[Pipeline.SampleLength];
        Pipeline.Load(sample.Path, new Random(DeterministicSeed.Combine(Seed, index)), pixels);
        return new Dictionary<string, Tensor>
        {
            ["data"] = tensor(pixels, new long[] { Pipeline.Channels, Pipeline.Height, Pipeline.Width }),
            ["label"] = tensor(new long[] { sample.Label }),
        };
    }
}
