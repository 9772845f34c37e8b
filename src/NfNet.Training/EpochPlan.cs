using NfNet.Training.Augmentation;

namespace NfNet.Training;

/// <summary>
/// What changes with the epoch in progressive learning (EfficientNetV2 style): the training image size and the
/// regularization. Returned by <see cref="TrainerOptions.Plan"/> for each epoch; null fields keep the options' values.
/// </summary>
/// <param name="ImageSize">Square training size; batches are resized (bilinear) when it differs from the data's.</param>
/// <param name="Augment">Crop/flip for this epoch.</param>
/// <param name="Mix">MixUp/CutMix for this epoch.</param>
/// <param name="LabelSmoothing">Label smoothing for this epoch.</param>
public sealed record EpochPlan(int? ImageSize = null, RandomCropFlip? Augment = null, MixUpCutMix? Mix = null, double? LabelSmoothing = null);
