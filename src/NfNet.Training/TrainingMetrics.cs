namespace NfNet.Training;

/// <summary>Progress after one optimizer step; <paramref name="SkippedSamples"/> counts the unreadable files the data
/// source skipped so far this epoch (<see cref="Data.IDataSource.SkippedSamples"/>).</summary>
public sealed record StepProgress(int Epoch, long Step, long StepsPerEpoch, long TotalSteps, double Loss, double Accuracy,
    double LearningRate, double ImagesPerSecond, long SkippedSamples = 0);

/// <summary>Evaluation of a model on a dataset.</summary>
public sealed record EvaluationResult(double Top1, double Top5, double Loss, long Count);

/// <summary>One epoch: training loss/accuracy (on the augmented batches), test results (raw and EMA), time, and the
/// unreadable training files skipped in the epoch (<see cref="Data.IDataSource.SkippedSamples"/>; 0 for in-memory data),
/// and the precision it computed in (<see cref="Devices.Precision.Name"/>: <c>fp32</c>, <c>mixed</c>, <c>bf16</c>).</summary>
public sealed record EpochMetrics(int Epoch, long Step, double TrainLoss, double TrainAccuracy, double LearningRate,
    EvaluationResult? Test, EvaluationResult? TestEma, double Seconds, double ImagesPerSecond, long SkippedSamples = 0, string? Precision = null)
{
    /// <summary>The CSV header matching <see cref="ToCsv"/>.</summary>
    public const string CsvHeader = "epoch,step,train_loss,train_acc,lr,test_loss,test_top1,test_top5,ema_top1,seconds,images_per_s,skipped,precision";

    /// <summary>One CSV line (invariant culture).</summary>
    public string ToCsv() => string.Join(',', new object?[]
    {
        Epoch, Step, TrainLoss, TrainAccuracy, LearningRate, Test?.Loss, Test?.Top1, Test?.Top5, TestEma?.Top1, Seconds, ImagesPerSecond, SkippedSamples, Precision,
    }.Select(v => v switch { null => "", double d => d.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), _ => v.ToString() }));
}
