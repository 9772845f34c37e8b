using NfNet.Models;
using NfNet.Training;
using static TorchSharp.torch;

namespace NfNet.Studies;

/// <summary>
/// Study 2: large batch and high learning rates. The demo NFNet trains at a large batch with and without Adaptive
/// Gradient Clipping across a sweep of learning rates; the table shows where each run diverges (NaN loss) and what the
/// survivors reach.
/// </summary>
public static class LargeBatchStudy
{
    /// <summary>Runs the study.</summary>
    public static StudyResult Run(StudyOptions o)
    {
        var (batch, trainCount, testCount, epochs) = o.Quick ? (256, 1024L, 256L, 2) : (1024, 20480L, 2000L, 4);
        var baseRates = o.Quick ? new[] { 0.4, 3.2 } : new[] { 0.025, 0.05, 0.1, 0.2, 0.4, 0.8 };
        const double clip = 0.01;
        var (train, test) = o.Load(trainCount, testCount);
        using var ownedTrain = train;
        using var ownedTest = test;
        var result = new StudyResult($"Large batch ({batch}): NFNet with and without AGC",
            "AGC", "LR per 256", "peak LR", "diverged at step", "final train loss", "test top-1", "training s");
        var series = new Dictionary<string, List<(double Lr, double Top1)>> { ["AGC λ = 0.01"] = new(), ["no clipping"] = new() };
        foreach (var agc in new[] { true, false })
            foreach (var baseRate in baseRates)
            {
                manual_seed(o.Seed);
                using var model = ModelRegistry.CreateFromConfiguration(StudyModels.NFNet);
                var options = FashionMnistRecipe.Options(epochs, batch, o.Seed) with
                {
                    PeakLearningRate = baseRate * batch / 256,
                    ClipFactor = agc ? clip : null,
                    EvalBatchSize = 500,
                };
                var run = StudyTraining.Train(model, options, train, test, o.Log, $"{(agc ? "AGC" : "no AGC")} LR {options.PeakLearningRate}");
                result.Add(agc ? "yes" : "no", baseRate, options.PeakLearningRate, run.DivergedAtStep?.ToString() ?? "–",
                    run.DivergedAtStep is null ? run.FinalTrainLoss : double.NaN, 100 * run.TestTop1, run.Seconds);
                series[agc ? "AGC λ = 0.01" : "no clipping"].Add((baseRate, run.DivergedAtStep is null ? 100 * run.TestTop1 : 10));
            }
        result.Notes.Add($"Fashion-MNIST, first {trainCount:N0} training images, {epochs} epochs at batch {batch} ({trainCount / batch * epochs} steps), " +
                         $"first {testCount:N0} test images. SGD-Nesterov, ½-epoch warm-up then cosine, weight decay 5e-5, mixed bf16, seed {o.Seed}.");
        result.Notes.Add("A diverged run (non-finite loss) is plotted at 10 % (chance).");
        result.Plot = plot =>
        {
            foreach (var (name, points) in series)
            {
                var s = plot.Add.Scatter(points.Select(p => Math.Log2(p.Lr)).ToArray(), points.Select(p => p.Top1).ToArray());
                s.LegendText = name;
            }
            plot.XLabel("log2(learning rate per 256 images)");
            plot.YLabel("test top-1 (%)");
            plot.ShowLegend();
        };
        return result;
    }
}
