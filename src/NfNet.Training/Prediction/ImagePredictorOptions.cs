namespace NfNet.Training.Prediction;

/// <summary>How an <see cref="ImagePredictor"/> batches the requests of concurrent callers.</summary>
public sealed record ImagePredictorOptions
{
    /// <summary>The most images scored in one forward pass (default 16).</summary>
    public int MaxBatch { get; init; } = 16;

    /// <summary>How long the first request of a batch waits for others to join it (default 2 ms; zero scores whatever
    /// has arrived). A lone caller pays at most this much latency for the chance of a batch.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>How many classes each prediction lists (default 5; at most the model's classes).</summary>
    public int TopK { get; init; } = 5;

    /// <summary>The class names in index order, or null.</summary>
    public IReadOnlyList<string>? Labels { get; init; }

    /// <summary>The precision a float32 model computes in when the library builds the scorer
    /// (<see cref="ImagePredictor.ForModel"/> and the factories): by default <see cref="Devices.PrecisionMode.Auto"/>,
    /// bf16 activations where the device computes bf16 natively, float32 elsewhere.</summary>
    public Devices.PrecisionMode Precision { get; init; } = Devices.PrecisionMode.Auto;

    /// <summary>Throws unless every value is in range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Check()
    {
        if (MaxBatch is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(MaxBatch), MaxBatch, "the batch must be 1 to 4096 images");
        if (MaxWait < TimeSpan.Zero || MaxWait > TimeSpan.FromSeconds(10)) throw new ArgumentOutOfRangeException(nameof(MaxWait), MaxWait, "the wait must be 0 to 10 s");
        if (TopK < 1) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top-k must be at least 1");
    }
}
