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

    /// <summary>The signal-propagation plot: per block, average channel squared mean, average channel variance and
    /// residual-branch variance (log scale).</summary>
    public static void SaveSignalPropagation(IReadOnlyList<BlockSignal> signals, string path, int width = 900, int height = 500)
    {
        ArgumentNullException.ThrowIfNull(signals);
        if (signals.Count == 0) throw new ArgumentException("no blocks to plot", nameof(signals));
        var plot = new Plot();
        var depth = signals.Select(s => (double)s.Depth).ToArray();
        Line(plot, depth, signals.Select(s => Math.Log10(Math.Max(s.AverageChannelSquaredMean, 1e-12))), "log10 avg channel squared mean");
        Line(plot, depth, signals.Select(s => Math.Log10(Math.Max(s.AverageChannelVariance, 1e-12))), "log10 avg channel variance");
        Line(plot, depth, signals.Select(s => Math.Log10(Math.Max(s.ResidualBranchVariance, 1e-12))), "log10 residual branch variance");
        plot.Title("Signal propagation (per residual block)");
        plot.XLabel("block");
        plot.YLabel("log10");
        plot.ShowLegend();
        Save(plot, path, width, height);
    }

    private static void Line(Plot plot, double[] xs, IEnumerable<double> ys, string label)
    {
        var scatter = plot.Add.Scatter(xs, ys.ToArray());
        scatter.LegendText = label;
    }

    private static void Save(Plot plot, string path, int width, int height)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        plot.SavePng(full, width, height);
    }
}
