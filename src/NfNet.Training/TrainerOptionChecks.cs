namespace NfNet.Training;

/// <summary>The checks a <see cref="TrainerOptions"/> must pass before a <see cref="Trainer"/> is built from it, each
/// naming the option.</summary>
internal static class TrainerOptionChecks
{
    /// <summary>Throws when <paramref name="options"/> cannot train <paramref name="classes"/> classes on
    /// <paramref name="worldSize"/> ranks.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count or size is out of range.</exception>
    /// <exception cref="ArgumentException">Options that cannot be combined are set together.</exception>
    public static void Check(TrainerOptions options, int classes, int worldSize)
    {
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "a classifier needs at least 2 classes");
        if (options.Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(options), "Epochs must be positive");
        if (options.KeepCheckpoints < 1) throw new ArgumentOutOfRangeException(nameof(options), "KeepCheckpoints must be at least 1");
        if (options.BatchSize <= 0 || options.AccumulationSteps <= 0 || options.BatchSize % options.AccumulationSteps != 0)
            throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be a positive multiple of AccumulationSteps");
        if (options.BatchSize % worldSize != 0 || options.BatchSize / worldSize % options.AccumulationSteps != 0)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"the global BatchSize {options.BatchSize} must split into {worldSize} equal per-rank batches that are multiples of AccumulationSteps {options.AccumulationSteps}");
        if (options.DlbAlpha is not null)
        {
            if (options.SamRho > 0 || options.AccumulationSteps != 1)
                throw new ArgumentException("DLB self-distillation cannot be combined with SAM or gradient accumulation", nameof(options));
            if (options.Mix is not null)
                throw new ArgumentException("DLB self-distillation trains on hard labels: it cannot be combined with MixUp/CutMix (TrainerOptions.Mix)", nameof(options));
        }
    }
}
