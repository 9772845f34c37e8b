using System.ComponentModel;
using System.Diagnostics;
using NfNet.Devices;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Cli.Commands;

/// <summary><c>nfnet benchmark</c>'s options.</summary>
public sealed class BenchmarkSettings : CliSettings
{
    [CommandOption("-m|--model <NAME>")]
    [Description("Registry name")]
    [DefaultValue("dm_nfnet_f0")]
    public string Model { get; init; } = "dm_nfnet_f0";

    [CommandOption("--precision <MODE>")]
    [Description("auto (mixed where the CPU or GPU computes bf16 natively, fp32 elsewhere), fp32, mixed (float32 weights, bf16 activations) or bf16")]
    [DefaultValue("auto")]
    public string Precision { get; init; } = "auto";

    [CommandOption("--resolution <PX>")]
    [DefaultValue(128)]
    public int Resolution { get; init; } = 128;

    [CommandOption("--batch <N>")]
    [DefaultValue(8)]
    public int Batch { get; init; } = 8;

    [CommandOption("--steps <N>")]
    [Description("Timed iterations of each benchmark")]
    [DefaultValue(5)]
    public int Steps { get; init; } = 5;

    [CommandOption("--warmup <N>")]
    [Description("Untimed iterations first (the allocator's heap grows over the first few)")]
    [DefaultValue(3)]
    public int Warmup { get; init; } = 3;

    [CommandOption("--num-classes <N>")]
    [DefaultValue(1000)]
    public int NumClasses { get; init; } = 1000;

    [CommandOption("--no-train")]
    [Description("Inference only")]
    public bool NoTrain { get; init; }

    [CommandOption("--csv <FILE>")]
    [Description("Also write the table as CSV")]
    public string? Csv { get; init; }

    public override ValidationResult Validate() =>
        Precision is not ("auto" or "fp32" or "mixed" or "bf16") ? ValidationResult.Error($"--precision must be auto, fp32, mixed or bf16, got '{Precision}'")
        : Resolution <= 0 || Batch <= 0 || Steps <= 0 || Warmup < 0 ? ValidationResult.Error("--resolution, --batch and --steps must be positive, --warmup >= 0")
        : ValidationResult.Success();
}

/// <summary><c>nfnet benchmark</c>: timm's <c>benchmark.py</c> — inference and training images/s, step time and peak
/// memory of any registry model, as a table and CSV. A quick look, not a measurement: those are BenchmarkDotNet's
/// (benchmarks/README.md).</summary>
public sealed class BenchmarkCommand : Command<BenchmarkSettings>
{
    public override int Execute(CommandContext context, BenchmarkSettings s, CancellationToken cancellationToken)
    {
        NativeAllocator.TuneForTensors(); // a benchmark's choice: time the steps, not the page faults
        var choice = Devices.Precision.Choose(Devices.Precision.Parse(s.Precision));
        var mode = choice.Mode;
        var precisionName = Devices.Precision.Name(mode);
        Console.WriteLine(choice);
        using var model = ModelRegistry.Create(s.Model, numClasses: s.NumClasses);
        model.to(Devices.Precision.ParameterType(mode));
        var computeType = Devices.Precision.ComputeType(mode);
        manual_seed(0);
        using var drawn = randn(s.Batch, model.InChannels, s.Resolution, s.Resolution);
        using var images = drawn.to(computeType);
        using var labels = randint(0, s.NumClasses, new long[] { s.Batch });
        var rows = new List<Row>();

        model.eval();
        var inference = Time(s, () =>
        {
            using var _ = no_grad();
            using var logits = model.call(images);
        });
        rows.Add(new Row("inference", inference, s.Batch / inference.TotalSeconds));
        if (!s.NoTrain)
        {
            model.train();
            var optimizer = NFNetRecipe.CreateSgdAgc(model, 0.1, weightDecay: 2e-5, clipSkipInitGain: false);
            var train = Time(s, () =>
            {
                using var scope = NewDisposeScope();
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(model.call(images).to(ScalarType.Float32), labels);
                loss.backward();
                optimizer.step();
            });
            rows.Add(new Row("train step", train, s.Batch / train.TotalSeconds));
        }
        var peak = PeakResidentBytes();
        var table = new Table().AddColumns("benchmark", "model", "precision", "px", "batch", "ms per step", "images/s", "peak RSS");
        foreach (var r in rows)
            table.AddRow(r.Name, s.Model, precisionName, s.Resolution.ToString(), s.Batch.ToString(), $"{r.Step.TotalMilliseconds:F1}", $"{r.ImagesPerSecond:F1}",
                peak is { } p ? $"{p / 1e6:F0} MB" : "n/a");
        AnsiConsole.Write(table);
        var cpu = Devices.DeviceSelection.DescribeCpu();
        Console.WriteLine($"{model.ParameterCount():N0} parameters, {model.CountMacs(s.Resolution, s.Resolution) / 1e9:F2} GMACs per image; median of {s.Steps} after {s.Warmup} warm-up; {get_num_threads()} threads");
        Console.WriteLine($"cpu: {cpu}");
        if (s.Csv is { } csv)
        {
            Results.Write(csv, rows, "benchmark,model,precision,resolution,batch,ms_per_step,images_per_second,peak_rss_bytes,cpu",
                r => $"{r.Name},{s.Model},{precisionName},{s.Resolution},{s.Batch},{r.Step.TotalMilliseconds:F3},{r.ImagesPerSecond:F3},{peak},\"{cpu}\"");
            Console.WriteLine($"  csv          {Path.GetFullPath(csv)}");
        }
        return 0;
    }

    // The median of the timed iterations (robust to a step the machine interrupts).
    private static TimeSpan Time(BenchmarkSettings s, Action step)
    {
        for (var i = 0; i < s.Warmup; i++) step();
        var times = new List<TimeSpan>();
        for (var i = 0; i < s.Steps; i++)
        {
            var clock = Stopwatch.StartNew();
            step();
            times.Add(clock.Elapsed);
        }
        return times.Order().ElementAt(times.Count / 2);
    }

    // The process's resident high-water mark (VmHWM; Linux), else the peak working set .NET reports.
    private static long? PeakResidentBytes()
    {
        if (File.Exists("/proc/self/status"))
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal) && long.TryParse(line[6..].Trim().Split(' ')[0], out var kb)) return kb * 1024;
        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64 > 0 ? self.PeakWorkingSet64 : null;
    }

    private sealed record Row(string Name, TimeSpan Step, double ImagesPerSecond);
}
