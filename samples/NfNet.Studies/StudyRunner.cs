using NfNet.Training.Data;

namespace NfNet.Studies;

/// <summary>Parses the command line and runs the studies; each writes a Markdown table, a CSV and a PNG.</summary>
public static class StudyRunner
{
    /// <summary>The studies by command-line name.</summary>
    public static readonly IReadOnlyDictionary<string, Func<StudyOptions, StudyResult>> Studies = new Dictionary<string, Func<StudyOptions, StudyResult>>
    {
        ["small-batch"] = SmallBatchStudy.Run,
        ["large-batch"] = LargeBatchStudy.Run,
        ["dlb"] = DlbStudy.Run,
        ["progressive"] = ProgressiveStudy.Run,
        ["step-time"] = StepTimeStudy.Run,
    };

    /// <summary>Runs the command line; returns the process exit code (0 ok, 1 failure, 2 bad arguments).</summary>
    public static int Run(string[] args, TextWriter? log = null)
    {
        log ??= Console.Out;
        string? study = null;
        var quick = false;
        var data = FashionMnist.DebianDirectory;
        var output = Path.GetFullPath("nfnet-studies-output");
        var seed = 0;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--quick": quick = true; break;
                    case "--data": data = args[++i]; break;
                    case "--out": output = Path.GetFullPath(args[++i]); break;
                    case "--seed": seed = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                    case "-h" or "--help":
                        log.WriteLine($"usage: NfNet.Studies <{string.Join('|', Studies.Keys)}|all> [--quick] [--data DIR] [--out DIR] [--seed N]");
                        log.WriteLine("Runs the comparison studies on Fashion-MNIST (IDX files in DIR, default /usr/share/datasets/fashion-mnist).");
                        log.WriteLine("--quick runs a reduced version in seconds (used by the test suite); results go to DIR/<study>.{md,csv,png}.");
                        return 0;
                    default:
                        if (args[i].StartsWith('-') || study is not null)
                        {
                            Console.Error.WriteLine($"unknown argument '{args[i]}' (try --help)");
                            return 2;
                        }
                        study = args[i];
                        break;
                }
            }
        }
        catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
        {
            Console.Error.WriteLine($"bad command line: {e.Message} (try --help)");
            return 2;
        }
        if (study is null || (study != "all" && !Studies.ContainsKey(study)))
        {
            Console.Error.WriteLine($"name a study: {string.Join(", ", Studies.Keys)} or all (try --help)");
            return 2;
        }
        Directory.CreateDirectory(output);
        var options = new StudyOptions(quick, data, output, seed, log);
        try
        {
            foreach (var (name, run) in Studies.Where(s => study == "all" || s.Key == study))
            {
                log.WriteLine($"== {name}{(quick ? " (quick)" : "")} ==");
                var result = run(options);
                result.Write(output, name);
                log.WriteLine(result.ToMarkdown());
                log.WriteLine($"wrote {Path.Combine(output, name)}.md/.csv/.png");
            }
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
