namespace NfNet.Training.Images;

/// <summary>
/// A labelled set of image files (not decoded): the index that an <see cref="ImageDataSource"/> loads from. Built once,
/// before training, so every missing file, bad label or empty class is reported before the first step.
/// </summary>
public interface IImageDataset
{
    /// <summary>The samples, in a fixed order (sorted by class, then by path, as torchvision's <c>ImageFolder</c>).</summary>
    IReadOnlyList<ImageSample> Samples { get; }

    /// <summary>Class names by index.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>Class name → index (torchvision's <c>class_to_idx</c>).</summary>
    IReadOnlyDictionary<string, int> ClassToIndex { get; }
}
