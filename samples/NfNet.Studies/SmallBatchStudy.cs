using NfNet.Models;
using NfNet.Models.Baselines;
using NfNet.Training;
using static TorchSharp.torch;

namespace NfNet.Studies;

/// <summary>
/// Study 1: batch norm at small batch. A BN-ResNet, the same layout as an NF-ResNet, and the demo NFNet train for the
/// same epochs at batch 2 … 128 with the learning rate scaled linearly (0.2 · B / 256). Reported: test top-1 in eval mode
/// (running statistics) and in train mode (each test batch normalized with its own statistics, as in training); their
/// difference is batch norm's train/eval discrepancy, which normalizer-free nets do not have.
/// </summary>
public static class SmallBatchStudy
{
    /// <summary>Runs the study.</summary>
    public static StudyResult Run(StudyOptions o)
    {
        var batches = o.Quick ? new[] { 2, 32 } : new[] { 2, 4, 8, 32, 128 };
        var (trainCount, testCount, epochs) = o.Quick ? (128L, 128L, 1) : (5000L, 2000L, 3);
        var (train, test) = o.Load(trainCount, testCount);
        using var ownedTrain = train;
        using var ownedTest = test;
        var result = new StudyResult("Small batch: batch norm vs normalizer-free",
            "model", "batch", "peak LR", "steps", "test top-1 (eval mode)", "test top-1 (train mode)", "train − eval (points)", "training s");
        var series = new Dictionary<string, List<(double Batch, double Eval, double TrainMode)>>();
        // The systems as data: name, configuration (built through the registry's builder for its type), and AGC's clip
        // factor (part of the NFNet recipe; the ResNets train with plain SGD).
        var systems = new (string Name, object Config, double? Clip)[]
        {
            ("BN-ResNet", StudyModels.BatchNormResNet, null),
            ("NF-ResNet", StudyModels.NormalizerFreeResNet, null),
            ("NFNet", StudyModels.NFNet, 0.02),
        };
        foreach (var (name, config, clip) in systems)
        {
            series[name] = new();
            foreach (var batch in batches)
            {
                manual_seed(o.Seed);
                using var model = ModelRegistry.CreateFromConfiguration(config);
                var options = FashionMnistRecipe.Options(epochs, batch, o.Seed) with
                {
                    ClipFactor = clip,
                    EvalBatchSize = 500,
                };
                var run = StudyTraining.Train(model, options, train, test, o.Log, $"{name} batch {batch}");
                var trainMode = run.DivergedAtStep is null ? StudyTraining.TrainModeTop1(model, test, batch, options.Precision) : double.NaN;
                var steps = train.Count / batch * epochs;
                result.Add(name, batch, options.PeakLearningRate, steps, 100 * run.TestTop1, 100 * trainMode, 100 * (trainMode - run.TestTop1), run.Seconds);
                series[name].Add((batch, run.TestTop1, trainMode));
            }
        }
        result.Notes.Add($"Fashion-MNIST, first {trainCount:N0} training images, {epochs} epoch(s) at every batch size; first {testCount:N0} test images; " +
                         "SGD-Nesterov 0.9, LR 0.2·B/256 with ½-epoch warm-up and cosine decay, label smoothing 0.1, crop/flip, mixed bf16, seed " + o.Seed + ".");
        result.Notes.Add("Eval mode: BN uses its running averages. Train mode: BN normalizes each test batch of the training batch size with that batch's statistics.");
        result.Plot = plot =>
        {
            foreach (var (name, points) in series)
            {
                var xs = points.Select(p => Math.Log2(p.Batch)).ToArray();
                var eval = plot.Add.Scatter(xs, points.Select(p => 100 * p.Eval).ToArray());
                eval.LegendText = $"{name} (eval mode)";
                if (name == systems[0].Name)
                {
                    var tm = plot.Add.Scatter(xs, points.Select(p => 100 * p.TrainMode).ToArray());
                    tm.LegendText = "BN-ResNet (train-mode statistics)";
                    tm.LinePattern = ScottPlot.LinePattern.Dashed;
                }
            }
            plot.XLabel("log2(batch size)");
            plot.YLabel("test top-1 (%)");
            plot.ShowLegend();
        };
        return result;
    }
}
