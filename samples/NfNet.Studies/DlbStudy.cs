using NfNet.Models;
using NfNet.Training;
using static TorchSharp.torch;

namespace NfNet.Studies;

/// <summary>
/// Study 3: DLB self-distillation (Shen et al. 2022) vs plain training of the demo NFNet at equal epochs. DLB re-forwards
/// the previous batch (a second augmented view) and adds α·τ²·KL(previous soft targets ‖ now), α = 1, τ = 3, with
/// hard-label cross-entropy as in the official code; plain training uses the demo recipe (label smoothing 0.1).
/// </summary>
public static class DlbStudy
{
    /// <summary>Runs the study.</summary>
    public static StudyResult Run(StudyOptions o)
    {
        var (batch, trainCount, testCount, epochs) = o.Quick ? (64, 512L, 256L, 1) : (128, 20000L, 10000L, 6);
        var seeds = o.Quick ? new[] { o.Seed } : new[] { o.Seed, o.Seed + 1 };
        var (train, test) = o.Load(trainCount, testCount);
        using var ownedTrain = train;
        using var ownedTest = test;
        var result = new StudyResult("DLB self-distillation vs plain training (equal epochs)",
            "method", "seed", "test top-1", "training s", "images/s");
        var histories = new Dictionary<string, IReadOnlyList<EpochMetrics>>();
        var means = new Dictionary<string, List<double>> { ["plain"] = new(), ["DLB"] = new() };
        foreach (var seed in seeds)
            foreach (var dlb in new[] { false, true })
            {
                manual_seed(seed);
                using var model = ModelRegistry.CreateFromConfiguration(StudyModels.NFNet);
                var options = FashionMnistRecipe.Options(epochs, batch, seed) with
                {
                    DlbAlpha = dlb ? 1.0 : null,
                    DlbTemperature = 3.0,
                    EvalBatchSize = 500,
                };
                var name = dlb ? "DLB" : "plain";
                var run = StudyTraining.Train(model, options, train, test, o.Log, $"{name} seed {seed}");
                result.Add(name, seed, 100 * run.TestTop1, run.Seconds, trainCount * epochs / Math.Max(run.Seconds, 1e-9));
                means[name].Add(run.TestTop1);
                histories[$"{name} seed {seed}"] = run.History;
            }
        foreach (var (name, values) in means) result.Add(name, "mean", 100 * values.Average(), double.NaN, double.NaN);
        result.Notes.Add($"Fashion-MNIST, first {trainCount:N0} training images, {epochs} epochs at batch {batch}, {testCount:N0} test images, mixed bf16. " +
                         "DLB costs about twice the compute per step (the previous batch is forwarded and back-propagated again).");
        result.Plot = plot =>
        {
            foreach (var (name, history) in histories)
            {
                var s = plot.Add.Scatter(history.Select(m => (double)m.Epoch + 1).ToArray(), history.Select(m => m.TrainLoss).ToArray());
                s.LegendText = name + " train loss";
            }
            plot.XLabel("epoch");
            plot.YLabel("training loss (DLB: CE + α·τ²·KL)");
            plot.ShowLegend();
        };
        return result;
    }
}
