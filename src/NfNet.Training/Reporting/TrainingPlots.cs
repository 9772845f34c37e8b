using NfNet.IO;
using ScottPlot;

namespace NfNet.Training.Reporting;

/// <summary>PNG plots of a run (ScottPlot, headless).</summary>
public static class TrainingPlots
{
    /// <summary>Training and test curves per epoch: losses and accuracies (as fractions) on one axis.</summary>
    public static void SaveCurves(IReadOnlyList<EpochMetrics> history, string path, int width = 900, int height = 500)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (history.Count == 0) throw new ArgumentException("no epochs to plot", nameof(history));
        var plot = new Plot();
        var epochs = history.Select(m => (double)m.Epoch).ToArray();
        Line(plot, epochs, history.Select(m => m.TrainLoss), "train loss");
        Line(plot, epochs, history.Select(m => m.TrainAccuracy), "train accuracy (augmented)");
        if (history.All(m => m.Test is not null))
        {
            Line(plot, epochs, history.Select(m => m.Test!.Loss), "test loss");
            Line(plot, epochs, history.Select(m => m.Test!.Top1), "test top-1");
        }
        if (history.All(m => m.TestEma is not null)) Line(plot, epochs, history.Select(m => m.TestEma!.Top1), "test top-1 (EMA)");
        plot.Title("NfNet.NET training curves");
        plot.XLabel("epoch");
        plot.YLabel("loss / accuracy");
        plot.ShowLegend();
        Save(plot, path, width, height);
    }

    /// <summary>
    /// The signal-propagation plot (Brock et al. 2021a, Figure 1): per residual block (integer ticks), the log10 of the
    /// average channel squared mean, the average channel variance and the residual-branch variance. With
    /// <paramref name="atInitialisation"/>, the same network at initialisation (the paper's plot) is drawn dashed beside
    /// the trained one (solid). The legend sits outside the data, to the right.
    /// </summary>
    /// <exception cref="ArgumentException">No blocks, or the two measurements have different block counts.</exception>
    public static void SaveSignalPropagation(IReadOnlyList<BlockSignal> signals, string path,
        IReadOnlyList<BlockSignal>? atInitialisation = null, int width = 1000, int height = 500)
    {
        ArgumentNullException.ThrowIfNull(signals);
        if (signals.Count == 0) throw new ArgumentException("no blocks to plot", nameof(signals));
        if (atInitialisation is not null && atInitialisation.Count != signals.Count)
            throw new ArgumentException($"{atInitialisation.Count} blocks at initialisation but {signals.Count} trained", nameof(atInitialisation));
        var plot = new Plot();
        var depth = signals.Select(s => (double)s.Depth).ToArray();
        var series = new (string Label, Func<BlockSignal, double> Value, Color Color)[]
        {
            ("avg channel squared mean", s => s.AverageChannelSquaredMean, Colors.C0),
            ("avg channel variance", s => s.AverageChannelVariance, Colors.C1),
            ("residual branch variance", s => s.ResidualBranchVariance, Colors.C2),
        };
        var trainedSuffix = atInitialisation is null ? "" : " (trained)";
        foreach (var (label, value, color) in series)
        {
            var trained = Line(plot, depth, signals.Select(s => Log10(value(s))), label + trainedSuffix);
            trained.Color = color;
            if (atInitialisation is null) continue;
            var initial = Line(plot, depth, atInitialisation.Select(s => Log10(value(s))), label + " (at initialisation)");
            initial.Color = color;
            initial.LinePattern = LinePattern.Dashed;
        }
        // One tick per block, labelled by its position: blocks are discrete, so fractional ticks mean nothing.
        var step = Math.Max(1, (int)Math.Ceiling(signals.Count / 24.0));
        var ticks = signals.Where((_, i) => i % step == 0).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            ticks.Select(s => (double)s.Depth).ToArray(), ticks.Select(s => s.Depth.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        plot.Title("Signal propagation (per residual block)");
        plot.XLabel("residual block");
        plot.YLabel("log10");
        plot.ShowLegend(Edge.Right);
        Save(plot, path, width, height);
    }

    /// <summary>The trained network alone (the earlier signature; see the overload with <c>atInitialisation</c>).</summary>
    public static void SaveSignalPropagation(IReadOnlyList<BlockSignal> signals, string path, int width, int height) =>
        SaveSignalPropagation(signals, path, atInitialisation: null, width, height);

    private static double Log10(double value) => Math.Log10(Math.Max(value, 1e-12));

    private static ScottPlot.Plottables.Scatter Line(Plot plot, double[] xs, IEnumerable<double> ys, string label)
    {
        var scatter = plot.Add.Scatter(xs, ys.ToArray());
        scatter.LegendText = label;
        return scatter;
    }

    private static void Save(Plot plot, string path, int width, int height) =>
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, width, height));
}
