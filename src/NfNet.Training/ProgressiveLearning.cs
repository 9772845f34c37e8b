using NfNet.Training.Augmentation;

namespace NfNet.Training;

/// <summary>Which progressive-learning schedule (EfficientNetV2, seed-systems spec (b)).</summary>
public enum ProgressiveScheduleKind
{
    /// <summary>The paper's Algorithm 1: stage i of M uses <c>start + (end − start)·i/(M − 1)</c> for the size and every
    /// regularizer (so stage 0 trains at the minimum size).</summary>
    Paper,
    /// <summary>The released automl code: the size uses ratio <c>(i + 1)/M</c> (V2-S: 171, 214, 257, 300 — the minimum is
    /// never used), RandAugment and mixup use <c>linspace(start, end, M)</c>, and dropout stays at the config value.</summary>
    ReleasedCode,
}

/// <summary>The settings of one progressive-learning stage.</summary>
public sealed record ProgressiveStage(int Index, int ImageSize, double RandAugmentMagnitude, double MixupAlpha, double Dropout);

/// <summary>
/// EfficientNetV2's progressive learning with adaptive regularization: M stages that raise the image size and the
/// regularization together. <see cref="ToPlan"/> turns it into a <see cref="TrainerOptions.Plan"/> hook.
/// </summary>
public sealed record ProgressiveLearning(int Stages, int MinSize, int MaxSize, double MinMagnitude, double MaxMagnitude,
    double MinMixup, double MaxMixup, double MinDropout, double MaxDropout, ProgressiveScheduleKind Kind, double FixedDropout = 0.2)
{
    /// <summary>EfficientNetV2-S: paper Table 6 (128 → 300, RandAugment 5 → 15, mixup 0, dropout 0.1 → 0.3), or the
    /// released code's (RandAugment 5 → 10, dropout fixed at 0.2).</summary>
    public static ProgressiveLearning EfficientNetV2S(ProgressiveScheduleKind kind = ProgressiveScheduleKind.Paper) =>
        kind == ProgressiveScheduleKind.Paper
            ? new(4, 128, 300, 5, 15, 0, 0, 0.1, 0.3, kind)
            : new(4, 128, 300, 5, 10, 0, 0, 0.1, 0.3, kind, FixedDropout: 0.2);

    /// <summary>The settings of stage <paramref name="index"/> (0-based).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is outside [0, Stages).</exception>
    public ProgressiveStage Stage(int index)
    {
        if (Stages < 1) throw new InvalidOperationException("a progressive schedule needs at least one stage");
        if (index < 0 || index >= Stages) throw new ArgumentOutOfRangeException(nameof(index), index, $"stages are 0..{Stages - 1}");
        var linear = Stages == 1 ? 1.0 : (double)index / (Stages - 1);
        static double Lerp(double a, double b, double t) => a + (b - a) * t;
        if (Kind == ProgressiveScheduleKind.Paper)
            return new ProgressiveStage(index, (int)Math.Floor(Lerp(MinSize, MaxSize, linear)), Lerp(MinMagnitude, MaxMagnitude, linear),
                Lerp(MinMixup, MaxMixup, linear), Lerp(MinDropout, MaxDropout, linear));
        var sizeRatio = (index + 1.0) / Stages;
        return new ProgressiveStage(index, (int)Math.Floor(MinSize + (MaxSize - MinSize) * sizeRatio), Lerp(MinMagnitude, MaxMagnitude, linear),
            Lerp(MinMixup, MaxMixup, linear), FixedDropout);
    }

    /// <summary>The stage an epoch falls in when <paramref name="totalEpochs"/> are split evenly over the stages.</summary>
    public int StageOfEpoch(int epoch, int totalEpochs)
    {
        if (totalEpochs <= 0) throw new ArgumentOutOfRangeException(nameof(totalEpochs));
        return Math.Clamp((int)((long)epoch * Stages / totalEpochs), 0, Stages - 1);
    }

    /// <summary>
    /// A <see cref="TrainerOptions.Plan"/>: each epoch trains at its stage's image size, with MixUp/CutMix at the stage's α
    /// when it is positive. Dropout and RandAugment belong to the model and the data pipeline: read them with
    /// <see cref="Stage"/> in <paramref name="onStage"/> if your model or augmentation uses them.
    /// </summary>
    public Func<int, EpochPlan> ToPlan(int totalEpochs, Action<ProgressiveStage>? onStage = null) => epoch =>
    {
        var stage = Stage(StageOfEpoch(epoch, totalEpochs));
        onStage?.Invoke(stage);
        return new EpochPlan(ImageSize: stage.ImageSize, Mix: stage.MixupAlpha > 0 ? new MixUpCutMix(stage.MixupAlpha) : null);
    };
}
