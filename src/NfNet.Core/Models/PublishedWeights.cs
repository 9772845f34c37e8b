namespace NfNet.Models;

/// <summary>
/// One set of published weights and what it expects, timm's <c>pretrained_cfg</c> field for field, keyed like timm:
/// <c>eca_nfnet_l0.ra2_in1k</c> is model <c>eca_nfnet_l0</c>, tag <c>ra2_in1k</c>.
/// </summary>
/// <param name="Model">The registry name the weights load into.</param>
/// <param name="Tag">timm's tag (<c>dm_in1k</c>, <c>ra2_in1k</c>, …).</param>
/// <param name="NumClasses">Classifier outputs.</param>
/// <param name="InputSize">Training input size (square), timm's <c>input_size</c>.</param>
/// <param name="TestInputSize">Evaluation input size, timm's <c>test_input_size</c>; null when it is the training size.</param>
/// <param name="PoolSize">Final feature map side at the training size (timm's <c>pool_size</c>).</param>
/// <param name="CropPercent">timm's <c>crop_pct</c>.</param>
/// <param name="TestCropPercent">timm's <c>test_crop_pct</c> (used at the test size); null when it is <paramref name="CropPercent"/>.</param>
/// <param name="CropMode"><c>squash</c> or <c>center</c>.</param>
/// <param name="Interpolation">Resize filter (<c>bicubic</c>).</param>
/// <param name="Mean">Per-channel normalisation mean.</param>
/// <param name="Std">Per-channel normalisation standard deviation.</param>
/// <param name="FirstConv">State-dict path of the first convolution (timm's <c>first_conv</c>: what <c>in_chans</c> adapts).</param>
/// <param name="Classifier">State-dict path of the classifier (timm's <c>classifier</c>).</param>
/// <param name="License">The weights' license.</param>
public sealed record PublishedWeight(
    string Model, string Tag, int NumClasses, int InputSize, int? TestInputSize, int PoolSize, double CropPercent,
    double? TestCropPercent, string CropMode, string Interpolation, IReadOnlyList<double> Mean, IReadOnlyList<double> Std,
    string FirstConv, string Classifier, string License)
{
    /// <summary><c>model.tag</c>, timm's full name of these weights.</summary>
    public string Name => $"{Model}.{Tag}";

    /// <summary>The Hugging Face Hub repository (timm's <c>hf_hub_id</c>, <c>timm/</c>, with the full name).</summary>
    public string HubId => $"timm/{Name}";

    /// <summary>The model's <see cref="PretrainedConfig"/> with these weights: evaluated at the test size and, where the tag
    /// has one, the test crop, as timm's <c>resolve_data_config(use_test_size=True)</c>.</summary>
    public PretrainedConfig ToPretrainedConfig(RandAugmentSetting? randAugment) =>
        new(InputSize, TestInputSize ?? InputSize, Interpolation, Mean, Std, TestCropPercent ?? CropPercent, CropMode,
            randAugment, HubId, NumClasses);
}

/// <summary>
/// Every published NormFreeNet weight timm serves from the Hugging Face Hub (its <c>default_cfgs</c> entries with an
/// <c>hf_hub_id</c>): 14 tags, as data. <c>name</c> means the model's default tag, <c>name.tag</c> a given one. This is the
/// one place a model's published configuration comes from.
/// </summary>
public static class PublishedWeights
{
    private static readonly double[] ImageNetMean = { 0.485, 0.456, 0.406 };
    private static readonly double[] ImageNetStd = { 0.229, 0.224, 0.225 };
    private static readonly double[] Half = { 0.5, 0.5, 0.5 };

    private static PublishedWeight Row(string model, string tag, int input, int? test, int pool, double crop, double? testCrop,
        string cropMode, string firstConv, bool half = false) =>
        new(model, tag, 1000, input, test, pool, crop, testCrop, cropMode, "bicubic", half ? Half : ImageNetMean,
            half ? Half : ImageNetStd, firstConv, "head.fc", "apache-2.0");

    /// <summary>All 14, in timm's order.</summary>
    public static IReadOnlyList<PublishedWeight> All { get; } = new[]
    {
        Row("dm_nfnet_f0", "dm_in1k", 192, 256, 6, 0.9, null, "squash", "stem.conv1"),
        Row("dm_nfnet_f1", "dm_in1k", 224, 320, 7, 0.91, null, "squash", "stem.conv1"),
        Row("dm_nfnet_f2", "dm_in1k", 256, 352, 8, 0.92, null, "squash", "stem.conv1"),
        Row("dm_nfnet_f3", "dm_in1k", 320, 416, 10, 0.94, null, "squash", "stem.conv1"),
        Row("dm_nfnet_f4", "dm_in1k", 384, 512, 12, 0.951, null, "squash", "stem.conv1"),
        Row("dm_nfnet_f5", "dm_in1k", 416, 544, 13, 0.954, null, "squash", "stem.conv1"),
        Row("dm_nfnet_f6", "dm_in1k", 448, 576, 14, 0.956, null, "squash", "stem.conv1"),
        Row("eca_nfnet_l0", "ra2_in1k", 224, 288, 7, 0.9, 1.0, "center", "stem.conv1"),
        Row("eca_nfnet_l1", "ra2_in1k", 256, 320, 8, 0.9, 1.0, "center", "stem.conv1"),
        Row("eca_nfnet_l2", "ra3_in1k", 320, 384, 10, 0.9, 1.0, "center", "stem.conv1"),
        Row("nf_regnet_b1", "ra2_in1k", 256, 288, 8, 0.9, null, "center", "stem.conv"),
        Row("nf_resnet50", "ra2_in1k", 256, 288, 8, 0.94, null, "center", "stem.conv"),
        Row("nfnet_l0", "ra2_in1k", 224, 288, 7, 0.9, 1.0, "center", "stem.conv1"),
        Row("test_nfnet", "r160_in1k", 160, null, 5, 0.95, null, "center", "stem.conv1", half: true),
    };

    /// <summary>The default (first) published weights of registry model <paramref name="model"/>, or null when none are
    /// published.</summary>
    public static PublishedWeight? DefaultFor(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return All.FirstOrDefault(w => string.Equals(w.Model, model.Trim(), StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The weights called <paramref name="name"/>: <c>model</c> (its default tag) or <c>model.tag</c>,
    /// case-insensitive.</summary>
    /// <exception cref="UnknownModelException">No published weights have that name; the message names the near ones.</exception>
    public static PublishedWeight Resolve(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.Trim();
        return All.FirstOrDefault(w => string.Equals(w.Name, key, StringComparison.OrdinalIgnoreCase))
            ?? DefaultFor(key)
            ?? throw new UnknownModelException(name, All.Select(w => w.Name).Concat(All.Select(w => w.Model)).Distinct().ToArray());
    }

    /// <summary>The published weights timm's full name <c>model.tag</c> names (case-insensitive); null when
    /// <paramref name="name"/> has no tag or the tag is not published.</summary>
    public static PublishedWeight? FindTag(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Contains('.') ? All.FirstOrDefault(w => string.Equals(w.Name, name.Trim(), StringComparison.OrdinalIgnoreCase)) : null;
    }
}
