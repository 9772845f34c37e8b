using NfNet.Models.Baselines;
using NfNet.Training;
using static TorchSharp.torch;

namespace NfNet.Studies;

/// <summary>
/// Study 4: EfficientNetV2's progressive learning vs fixed-size training at equal wall-clock. A small EfficientNetV2
/// trains through four stages whose image size (16 → 32 px), dropout (0.1 → 0.3) and MixUp α (0 → 0.2) rise together
/// (the paper's schedule); the fixed-size baseline trains at 32 px with dropout 0.2 for as many epochs as fit in the
/// same time, and also for the same number of epochs.
/// </summary>
public static class ProgressiveStudy
{
    /// <summary>Runs the study.</summary>
    public static StudyResult Run(StudyOptions o)
    {
        var (batch, trainCount, testCount, epochs) = o.Quick ? (64, 256L, 256L, 2) : (128, 6000L, 10000L, 8);
        var stages = o.Quick ? 2 : 4;
        var (train, test) = o.Load(trainCount, testCount);
        using var ownedTrain = train;
        using var ownedTest = test;
        var schedule = new ProgressiveLearning(stages, 16, 32, 0, 0, 0, 0.2, 0.1, 0.3, ProgressiveScheduleKind.Paper);
        var result = new StudyResult("Progressive learning vs fixed size (small EfficientNetV2)",
            "schedule", "epochs", "image sizes", "test top-1", "training s");
        var curves = new Dictionary<string, IReadOnlyList<EpochMetrics>>();

        TrainerOptions Options(int e) => FashionMnistRecipe.Options(e, batch, o.Seed) with { ClipFactor = null, EvalBatchSize = 500 };

        manual_seed(o.Seed);
        RunOutcome progressive;
        using (var model = new EfficientNetV2(StudyModels.EfficientNetV2))
        {
            var options = Options(epochs) with { Plan = schedule.ToPlan(epochs, stage => model.DropRate = stage.Dropout) };
            progressive = StudyTraining.Train(model, options, train, test, o.Log, "progressive");
        }
        var sizes = string.Join("→", Enumerable.Range(0, stages).Select(i => schedule.Stage(i).ImageSize));
        result.Add("progressive (paper): size + dropout + MixUp", epochs, sizes, 100 * progressive.TestTop1, progressive.Seconds);
        curves["progressive"] = progressive.History;

        // The same stages with the image size only (dropout fixed at 0.2, no MixUp): separates the two effects.
        manual_seed(o.Seed);
        var sizeOnly = schedule with { MinMixup = 0, MaxMixup = 0 };
        using (var model = new EfficientNetV2(StudyModels.EfficientNetV2))
        {
            var options = Options(epochs) with { Plan = sizeOnly.ToPlan(epochs) };
            var run = StudyTraining.Train(model, options, train, test, o.Log, "progressive, size only");
            result.Add("progressive: size only", epochs, sizes, 100 * run.TestTop1, run.Seconds);
            curves["progressive, size only"] = run.History;
        }

        manual_seed(o.Seed);
        RunOutcome sameEpochs;
        using (var model = new EfficientNetV2(StudyModels.EfficientNetV2))
            sameEpochs = StudyTraining.Train(model, Options(epochs), train, test, o.Log, "fixed, equal epochs");
        result.Add("fixed 32 px, equal epochs", epochs, "32", 100 * sameEpochs.TestTop1, sameEpochs.Seconds);
        curves["fixed, equal epochs"] = sameEpochs.History;

        // Equal wall-clock: as many fixed-size epochs as the progressive run's time buys at the measured epoch time.
        var secondsPerEpoch = sameEpochs.Seconds / epochs;
        var budgetEpochs = Math.Max(1, (int)Math.Round(progressive.Seconds / secondsPerEpoch));
        manual_seed(o.Seed);
        using (var model = new EfficientNetV2(StudyModels.EfficientNetV2))
        {
            var sameTime = StudyTraining.Train(model, Options(budgetEpochs), train, test, o.Log, "fixed, equal time");
            result.Add("fixed 32 px, equal wall-clock", budgetEpochs, "32", 100 * sameTime.TestTop1, sameTime.Seconds);
            curves["fixed, equal time"] = sameTime.History;
        }
        using (var probe = new EfficientNetV2(StudyModels.EfficientNetV2, META))
            result.Notes.Add($"Model: {StudyModels.EfficientNetV2.Name}, {probe.ParameterCount():N0} parameters, {probe.CountMacs(32, 32) / 1e6:F1} M MACs per 32-px image.");
        result.Notes.Add($"Fashion-MNIST, first {trainCount:N0} training images, batch {batch}, {testCount:N0} test images evaluated at 32 px, SGD-Nesterov " +
                         $"(LR 0.2·B/256, cosine), label smoothing 0.1, mixed bf16; {stages} stages of {epochs / stages} epoch(s). " +
                         "Equal wall-clock = round(progressive seconds / fixed seconds per epoch) epochs.");
        result.Plot = plot =>
        {
            foreach (var (name, history) in curves)
            {
                var t = 0.0;
                var xs = history.Select(m => t += m.Seconds).ToArray();
                var s = plot.Add.Scatter(xs, history.Select(m => m.TrainLoss).ToArray());
                s.LegendText = name;
            }
            plot.XLabel("training seconds");
            plot.YLabel("training loss");
            plot.ShowLegend();
        };
        return result;
    }
}
