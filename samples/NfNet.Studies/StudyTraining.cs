using System.Diagnostics;
using NfNet.Devices;
using NfNet.Platform;
using NfNet.Training;
using NfNet.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Studies;

/// <summary>One training run's outcome.</summary>
/// <param name="TestTop1">Test top-1 after training (eval mode), or NaN when the run diverged.</param>
/// <param name="Seconds">Wall-clock of the training epochs (evaluation excluded).</param>
/// <param name="DivergedAtStep">The step whose loss was NaN/∞, or null.</param>
/// <param name="History">Per-epoch metrics.</param>
public sealed record RunOutcome(double TestTop1, double Seconds, long? DivergedAtStep, IReadOnlyList<EpochMetrics> History)
{
    /// <summary>The last epoch's mean training loss (NaN if none finished).</summary>
    public double FinalTrainLoss => History.Count > 0 ? History[^1].TrainLoss : double.NaN;
}

/// <summary>Training helpers shared by the studies.</summary>
public static class StudyTraining
{
    /// <summary>Trains <paramref name="model"/> with <paramref name="options"/> and evaluates it on <paramref name="test"/>;
    /// a divergence is recorded, not thrown.</summary>
    public static RunOutcome Train(nn.Module<Tensor, Tensor> model, TrainerOptions options, IDataSource train, IDataSource test,
        TextWriter log, string label, Action<Trainer>? configure = null)
    {
        using var trainer = new Trainer(model, 10, options);
        configure?.Invoke(trainer);
        var clock = Stopwatch.StartNew();
        try
        {
            var history = trainer.Fit(train);
            var seconds = history.Sum(m => m.Seconds);
            var result = trainer.Evaluate(test);
            log.WriteLine($"  {label}: test top-1 {result.Top1:P2}, {seconds:F1} s training");
            return new RunOutcome(result.Top1, seconds, null, history);
        }
        catch (TrainingDivergedException e)
        {
            log.WriteLine($"  {label}: diverged at step {e.Step} after {clock.Elapsed.TotalSeconds:F1} s");
            return new RunOutcome(double.NaN, clock.Elapsed.TotalSeconds, e.Step, trainer.History);
        }
    }

    /// <summary>
    /// Test top-1 with the model in <b>train</b> mode at batch size <paramref name="batchSize"/>: batch norm then
    /// normalizes each test batch with its own statistics, as during training. Running statistics are restored afterwards.
    /// For a normalizer-free model without dropout or stochastic depth this equals the eval-mode accuracy.
    /// </summary>
    public static double TrainModeTop1(nn.Module<Tensor, Tensor> model, IDataSource test, int batchSize, PrecisionMode precision)
    {
        var computeType = Precision.ComputeType(Precision.Choose(precision, model.parameters().FirstOrDefault()?.device).Mode);
        var saved = model.named_buffers().Select(b => (b.buffer, copy: b.buffer.clone())).ToList();
        var wasTraining = model.training;
        model.train();
        long correct = 0, seen = 0;
        try
        {
            using (no_grad())
                foreach (var (images, labels) in test.Batches(Math.Max(2, batchSize), shuffle: false))
                {
                    using var scope = NewDisposeScope();
                    using var ownedImages = images;
                    using var ownedLabels = labels;
                    var logits = model.call(images.to(computeType));
                    correct += logits.argmax(1).eq(labels).sum().ReadInt64();
                    seen += labels.shape[0];
                }
        }
        finally
        {
            using (no_grad())
                foreach (var (buffer, copy) in saved)
                {
                    buffer.copy_(copy);
                    copy.Dispose();
                }
            model.train(wasTraining);
        }
        return (double)correct / seen;
    }
}
