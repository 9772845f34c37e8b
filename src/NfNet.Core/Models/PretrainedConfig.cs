namespace NfNet.Models;

/// <summary>
/// What a model expects of its images and where its published weights are, in the sense of timm's
/// <c>pretrained_cfg</c>: input sizes, resize filter, normalisation, evaluation crop, the recipe's RandAugment, and the
/// Hugging Face Hub id of its default weights. Data pipelines, exporters and tools read it from the model
/// (<see cref="ImageClassifier.PretrainedConfig"/>) instead of switching on the model's type or name.
/// </summary>
/// <param name="InputSize">Training input size (square), timm's <c>input_size</c>.</param>
/// <param name="TestInputSize">Evaluation input size (square), timm's <c>test_input_size</c>.</param>
/// <param name="Interpolation">Resize filter, as timm names it: <c>bicubic</c> or <c>bilinear</c>.</param>
/// <param name="Mean">Per-channel normalisation mean (RGB, on [0, 1]).</param>
/// <param name="Std">Per-channel normalisation standard deviation.</param>
/// <param name="CropPercent">Evaluation crop fraction (timm's <c>crop_pct</c>): resize to <c>size / crop_pct</c>, then
/// centre-crop.</param>
/// <param name="CropMode">timm's <c>crop_mode</c>: <c>squash</c> (resize both sides, ignoring the aspect ratio) or
/// <c>center</c> (resize the shorter side).</param>
/// <param name="RandAugment">The training recipe's RandAugment (ops per image, magnitude); null when the recipe has none
/// (a trainer then picks its own).</param>
/// <param name="HubId">The Hugging Face Hub id of the default published weights (timm's <c>hf_hub_id</c> plus its tag,
/// e.g. <c>timm/dm_nfnet_f0.dm_in1k</c>); null when none are published.</param>
/// <param name="NumClasses">Classes of the published weights (1000 for ImageNet-1k).</param>
public sealed record PretrainedConfig(int InputSize, int TestInputSize, string Interpolation, IReadOnlyList<double> Mean,
    IReadOnlyList<double> Std, double CropPercent, string CropMode = "center", RandAugmentSetting? RandAugment = null,
    string? HubId = null, int NumClasses = 1000)
{
    /// <summary>ImageNet's channel means (torchvision / timm <c>IMAGENET_DEFAULT_MEAN</c>).</summary>
    public static IReadOnlyList<double> ImageNetMean { get; } = new[] { 0.485, 0.456, 0.406 };

    /// <summary>ImageNet's channel standard deviations (<c>IMAGENET_DEFAULT_STD</c>).</summary>
    public static IReadOnlyList<double> ImageNetStd { get; } = new[] { 0.229, 0.224, 0.225 };

    /// <summary>timm's defaults for a model without weights of its own: 224 px, bilinear, ImageNet statistics, crop
    /// 0.875 (timm's <c>_cfg()</c>).</summary>
    public static PretrainedConfig ImageNetDefault { get; } = new(224, 224, "bilinear", ImageNetMean, ImageNetStd, 0.875);
}
