using NfNet.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Benchmarks;

/// <summary>
/// One mixed-bf16 training step of a comparison model: bf16 activations (float32 weights cast per layer), float32 logits
/// and cross-entropy, backward, then SGD-Nesterov — wrapped in AGC for the normalizer-free nets, as their recipe does.
/// </summary>
public sealed class ComparisonStep : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly optim.Optimizer _optimizer;
    private readonly Tensor _images;
    private readonly Tensor _labels;

    /// <summary>Builds <paramref name="model"/> with random inputs of <paramref name="batch"/> × 3 × <paramref name="resolution"/>².</summary>
    public ComparisonStep(string model, int batch, int resolution)
    {
        manual_seed(0);
        (_model, MacsPerImage, var nf) = ComparisonModels.Create(model, resolution);
        _model.train();
        _optimizer = nf
            ? NFNetRecipe.CreateSgdAgc(_model, NFNetRecipe.LearningRateForBatch(batch))
            : optim.SGD(_model.parameters(), NFNetRecipe.LearningRateForBatch(batch), momentum: 0.9, nesterov: true, weight_decay: 5e-5);
        using (var drawn = randn(batch, 3, resolution, resolution)) _images = drawn.to(ScalarType.BFloat16);
        _labels = randint(0, 1000, new long[] { batch });
        Batch = batch;
        Parameters = _model.parameters().Sum(p => p.numel());
    }

    /// <summary>Parameter elements of the model.</summary>
    public long Parameters { get; }

    /// <summary>Forward MACs per image.</summary>
    public long MacsPerImage { get; }
    /// <summary>Batch size.</summary>
    public int Batch { get; }

    /// <summary>Runs one step.</summary>
    public void Run()
    {
        using var scope = NewDisposeScope();
        _optimizer.zero_grad();
        var logits = _model.call(_images).to(ScalarType.Float32);
        nn.functional.cross_entropy(logits, _labels).backward();
        _optimizer.step();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _model.Dispose();
        _images.Dispose();
        _labels.Dispose();
    }
}
