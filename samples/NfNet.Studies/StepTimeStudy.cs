using System.Diagnostics;
using NfNet.Benchmarks;
using NfNet.Devices;
using NfNet.Platform;

namespace NfNet.Studies;

/// <summary>
/// Study 5: training-step time of NFNet-F0, NF-ResNet-50, BN-ResNet-50 (and the same net with every BN replaced by the
/// identity, to measure batch norm's share), EfficientNetV2-S/-B0 and CoAtNet-0 at one resolution and batch, in mixed
/// bf16 on this CPU, with forward MACs and the achieved FLOP rate (training ≈ 3 × forward, 2 FLOPs per MAC). The same
/// step is the <c>ComparisonStepBenchmark</c> of the benchmark project (BenchmarkDotNet); this study times it with a
/// stopwatch (median of several steps after warm-up) so that it can run inside the test suite.
/// </summary>
public static class StepTimeStudy
{
    /// <summary>Runs the study.</summary>
    public static StudyResult Run(StudyOptions o)
    {
        var (resolution, batch, warmup, iterations) = o.Quick ? (64, 2, 0, 1) : (128, 8, 2, 9);
        var names = o.Quick ? ComparisonModels.Names.Where(n => n is "NFNet-F0" or "BN-ResNet-50" or "BN-ResNet-50, BN→identity" or "EfficientNetV2-B0").ToList()
            : ComparisonModels.Names.ToList();
        var result = new StudyResult($"Training-step time at {resolution} px, batch {batch} (mixed bf16, CPU)",
            "model", "params (M)", "GMACs/image", "ImageNet top-1 (paper)", "step ms", "ms per GMAC·image", "achieved GFLOP/s");
        var times = new Dictionary<string, double>();
        NativeAllocator.TuneForTensors(); // as the benchmarks do (and Program.cs does for the other studies)
        // All models are built first and timed round-robin (one step each per round), so a slow spell of the machine
        // affects every model alike; each model's time is the median over the rounds.
        var steps = names.Select(n => new ComparisonStep(n, batch, resolution)).ToList();
        try
        {
            foreach (var step in steps)
                for (var i = 0; i < warmup; i++) step.Run();
            var samples = names.Select(_ => new List<double>()).ToList();
            for (var round = 0; round < iterations; round++)
                for (var m = 0; m < steps.Count; m++)
                {
                    var clock = Stopwatch.StartNew();
                    steps[m].Run();
                    samples[m].Add(clock.Elapsed.TotalMilliseconds);
                }
            for (var m = 0; m < steps.Count; m++)
            {
                var sorted = samples[m].Order().ToList();
                var ms = sorted[sorted.Count / 2];
                times[names[m]] = ms;
                var gmacs = steps[m].MacsPerImage / 1e9;
                result.Add(names[m], steps[m].Parameters / 1e6, gmacs, ComparisonModels.ImageNetTop1(names[m]) is { } top1 ? top1 : double.NaN, ms,
                    ms / (gmacs * batch), 3 * 2 * gmacs * batch / (ms / 1000));
                o.Log.WriteLine($"  {names[m]}: {ms:F0} ms per step (min {sorted[0]:F0}, max {sorted[^1]:F0})");
            }
        }
        finally
        {
            foreach (var step in steps) step.Dispose();
        }
        if (times.TryGetValue("BN-ResNet-50", out var bn) && times.TryGetValue("BN-ResNet-50, BN→identity", out var noBn))
            result.Notes.Add($"Batch norm's share of the BN-ResNet-50 step: 1 − {noBn:F0}/{bn:F0} = {100 * (1 - noBn / bn):F1} %.");
        result.Notes.Add($"{Environment.ProcessorCount} logical CPUs; {iterations} rounds of one timed step per model (round-robin) after {warmup} warm-up steps each, median; random inputs; SGD-Nesterov " +
                         "(with AGC for the normalizer-free nets). ImageNet accuracies are the papers' at their own resolutions, for context only.");
        result.Plot = plot =>
        {
            var bars = names.Select((n, i) => new ScottPlot.Bar { Position = i, Value = times[n] }).ToList();
            plot.Add.Bars(bars);
            plot.Axes.Bottom.SetTicks(names.Select((_, i) => (double)i).ToArray(), names.Select(Short).ToArray());
            plot.YLabel("ms per training step");
        };
        return result;
    }

    private static string Short(string name) => name
        .Replace("EfficientNetV2-", "V2-").Replace("BN-ResNet-50, BN→identity", "R50 no BN").Replace("BN-ResNet-50", "BN-R50")
        .Replace("NF-ResNet-50", "NF-R50").Replace("NFNet-", "");
}
