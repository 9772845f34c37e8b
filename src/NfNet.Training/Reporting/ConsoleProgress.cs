using System.Globalization;
using NfNet.Training.Data;
using Spectre.Console;

namespace NfNet.Training.Reporting;

/// <summary>
/// Shows a run on the console: on a terminal a live Spectre.Console progress bar (loss, accuracy, learning rate,
/// images/s) plus one line per epoch; when the output is redirected (CI logs) only the plain per-epoch lines.
/// </summary>
public static class ConsoleProgress
{
    /// <summary>Runs <see cref="Trainer.Fit"/> with progress output.</summary>
    public static IReadOnlyList<EpochMetrics> Fit(Trainer trainer, IDataSource train, IDataSource? test, TextWriter? plain = null)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        plain ??= Console.Out;
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            var writer = plain;
            Action<EpochMetrics> line = m => { writer.WriteLine(Format(m)); writer.Flush(); };
            trainer.EpochCompleted += line;
            try { return trainer.Fit(train, test); }
            finally { trainer.EpochCompleted -= line; }
        }
        IReadOnlyList<EpochMetrics> result = Array.Empty<EpochMetrics>();
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                Action<StepProgress> step = p =>
                {
                    task.MaxValue = p.TotalSteps;
                    task.Value = p.Step;
                    task.Description = string.Create(CultureInfo.InvariantCulture,
                        $"epoch {p.Epoch + 1} loss {p.Loss:F3} acc {p.Accuracy:P1} lr {p.LearningRate:F4} {p.ImagesPerSecond:F0} img/s") +
                        (p.SkippedSamples > 0 ? $" skipped {p.SkippedSamples}" : "");
                };
                Action<EpochMetrics> epoch = m => AnsiConsole.WriteLine(Format(m));
                trainer.StepCompleted += step;
                trainer.EpochCompleted += epoch;
                try { result = trainer.Fit(train, test); }
                finally
                {
                    trainer.StepCompleted -= step;
                    trainer.EpochCompleted -= epoch;
                }
            });
        return result;
    }

    /// <summary>The plain per-epoch line.</summary>
    public static string Format(EpochMetrics m) =>
        FormattableString.Invariant($"epoch {m.Epoch,3}  step {m.Step,6}  train loss {m.TrainLoss:F4} acc {m.TrainAccuracy:P2}  ") +
        (m.Test is { } t ? FormattableString.Invariant($"test loss {t.Loss:F4} top-1 {t.Top1:P2} top-5 {t.Top5:P2}  ") : "") +
        (m.TestEma is { } e ? FormattableString.Invariant($"EMA top-1 {e.Top1:P2}  ") : "") +
        FormattableString.Invariant($"lr {m.LearningRate:F4}  {m.Seconds:F1} s  {m.ImagesPerSecond:F0} img/s") +
        (m.SkippedSamples > 0 ? FormattableString.Invariant($"  skipped {m.SkippedSamples} unreadable") : "");
}
