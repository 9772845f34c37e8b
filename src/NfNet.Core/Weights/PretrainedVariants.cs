using NfNet.Models;

namespace NfNet.Weights;

/// <summary>
/// What a published NFNet checkpoint expects (timm's pretrained config and DeepMind's release): metadata only — nothing
/// is downloaded; pass the file's path to <see cref="StateDictLoader.LoadSafetensors"/> or
/// <see cref="HaikuCheckpoint.LoadHaikuNpz"/>.
/// </summary>
/// <param name="TimmName">timm's model name (<c>dm_nfnet_f0</c> …).</param>
/// <param name="Variant">Our variant name (<c>F0</c> …).</param>
/// <param name="TrainSize">Training input size (square).</param>
/// <param name="TestSize">Evaluation input size (square).</param>
/// <param name="CropPercent">timm's eval crop fraction (<c>crop_mode='squash'</c>, bicubic).</param>
/// <param name="Mean">Per-channel normalization mean (RGB, on [0, 1]).</param>
/// <param name="Std">Per-channel normalization standard deviation.</param>
/// <param name="NumClasses">Classifier outputs (ImageNet-1k).</param>
/// <param name="TimmFile">File name of timm's weights on the Hugging Face hub (<c>timm/dm_nfnet_f0.dm_in1k</c>).</param>
/// <param name="DeepMindFile">File name of DeepMind's Haiku release.</param>
/// <param name="Top1">Published ImageNet top-1 (%) of the DeepMind weights.</param>
public sealed record PretrainedVariant(string TimmName, string Variant, int TrainSize, int TestSize, double CropPercent,
    IReadOnlyList<double> Mean, IReadOnlyList<double> Std, int NumClasses, string TimmFile, string DeepMindFile, double Top1);

/// <summary>The published NFNet-F0…F6 checkpoints (F7 has no released weights).</summary>
public static class PretrainedVariants
{
    private static readonly double[] ImageNetMean = { 0.485, 0.456, 0.406 };
    private static readonly double[] ImageNetStd = { 0.229, 0.224, 0.225 };

    private static PretrainedVariant Make(int n, double crop, double top1)
    {
        var config = NFNetVariants.Get($"F{n}");
        return new PretrainedVariant($"dm_nfnet_f{n}", $"F{n}", config.TrainResolution, config.EvalResolution, crop,
            ImageNetMean, ImageNetStd, 1000, "model.safetensors", $"F{n}_haiku.npz", top1);
    }

    /// <summary>All published variants, F0 to F6.</summary>
    public static IReadOnlyList<PretrainedVariant> All { get; } = new[]
    {
        Make(0, 0.9, 83.6), Make(1, 0.91, 84.7), Make(2, 0.92, 85.1), Make(3, 0.94, 85.7),
        Make(4, 0.951, 85.9), Make(5, 0.954, 86.0), Make(6, 0.956, 86.5),
    };

    /// <summary>The entry for <paramref name="name"/> (<c>F0</c>, <c>dm_nfnet_f0</c>, <c>NFNet-F0</c>, case-insensitive).</summary>
    /// <exception cref="UnknownVariantException">No published checkpoint has that name.</exception>
    public static PretrainedVariant Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var config = NFNetVariants.Get(name); // normalizes the name or throws UnknownVariantException
        return All.FirstOrDefault(v => v.Variant == config.Name)
            ?? throw new UnknownVariantException(name, All.Select(v => v.Variant).ToArray());
    }
}
