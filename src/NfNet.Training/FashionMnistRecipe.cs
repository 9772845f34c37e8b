using NfNet.Layers;
using NfNet.Models;
using NfNet.Training.Augmentation;
using NfNet.Training.Data;

namespace NfNet.Training;

/// <summary>
/// The small NFNet and recipe that train Fashion-MNIST on two CPU cores (see the training notes): dm_nfnet structure
/// (deep-quad stem, SE, skipinit, γ-scaled GELU, SAME padding, WS eps 1e-5) with widths (w, 2w, 3w, 4w), depths
/// (1, 2, 3, 2), group width 16 and a 64-wide stem (1 → 8 → 16 → 32 → 64) on 32×32 inputs; SGD-Nesterov at peak LR 0.2
/// for batch 256, half an epoch of warm-up and cosine to 0, weight decay 5e-5 on conv/linear weights, label smoothing
/// 0.1, AGC λ = 0.02 on everything but the classifier and <c>skipinit_gain</c>, crop (pad 2) + flip, mixed bf16.
/// </summary>
public static class FashionMnistRecipe
{
    /// <summary>The model for first-stage width <paramref name="width"/> (32 gives 324,650 parameters).</summary>
    public static NFNetConfig Model(int width = 32) => new()
    {
        Name = $"nfnet-fashion-w{width}",
        Widths = new[] { width, 2 * width, 3 * width, 4 * width },
        Depths = new[] { 1, 2, 3, 2 },
        StemWidth = 64,
        GroupWidth = 16,
        InChannels = 1,
        NumClasses = 10,
        DropRate = 0,
        StochasticDepthRate = 0,
        StandardizationEps = 1e-5,
        TrainResolution = 32,
        EvalResolution = 32,
    };

    /// <summary>The training options for <paramref name="epochs"/> epochs at <paramref name="batchSize"/> (LR scaled linearly
    /// from 0.2 at 256).</summary>
    public static TrainerOptions Options(int epochs, int batchSize = 256, int seed = 0) => new()
    {
        Epochs = epochs,
        BatchSize = batchSize,
        PeakLearningRate = 0.2 * batchSize / 256,
        WarmupEpochs = 0.5,
        WeightDecay = 5e-5,
        ClipFactor = 0.02,
        ClipSkipInitGain = false,
        LabelSmoothing = 0.1,
        Augment = new RandomCropFlip(2, fillValue: -FashionMnist.Mean / FashionMnist.Std),
        Seed = seed,
    };
}
