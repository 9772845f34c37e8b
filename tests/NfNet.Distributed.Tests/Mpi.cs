using System.Diagnostics;

namespace NfNet.Distributed.Tests;

/// <summary>Runs built programs as the tests' real clients: under Open MPI's <c>mpirun</c> (several ranks on this
/// machine: <c>--oversubscribe</c> for more ranks than cores, <c>--bind-to none</c>; as root with the two
/// <c>OMPI_ALLOW_RUN_AS_ROOT</c> variables) or directly.</summary>
internal static class Mpi
{
    public static string Root { get; } = FindRoot();

    /// <summary>The built worker (scripts/setup.sh builds the solution in Release).</summary>
    public static string Worker => Built("tests", "NfNet.Distributed.Worker");

    /// <summary>The built <c>nfnet</c> tool (its first argument is the command: <c>train</c>).</summary>
    public static string Tool => Built("src", "NfNet.Cli");

    public static string Slice => Path.Combine(Root, "tests", "NfNet.Training.Tests", "Fixtures", "fashion-mnist-slice");

    /// <summary>Runs <c>mpirun -np <paramref name="ranks"/> dotnet <paramref name="program"/> args…</c>.</summary>
    public static Result Run(int ranks, string program, IEnumerable<string> args, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var mpirun = new[] { "/usr/bin/mpirun", "/usr/local/bin/mpirun" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("mpirun not found: ./scripts/setup.sh installs Open MPI (openmpi-bin)");
        var info = new ProcessStartInfo(mpirun) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--oversubscribe", "--bind-to", "none", "-np", ranks.ToString() }) info.ArgumentList.Add(a);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.ArgumentList.Add("-x");
            info.ArgumentList.Add($"{key}={value}");
        }
        info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(program);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        info.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        return Execute(info, timeout ?? TimeSpan.FromMinutes(5));
    }

    /// <summary>Runs <c>dotnet <paramref name="program"/> args…</c> without a launcher.</summary>
    public static Result RunAlone(string program, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(program);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var key in new[] { "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "SLURM_NTASKS" }) info.Environment.Remove(key);
        return Execute(info, TimeSpan.FromMinutes(3));
    }

    private static Result Execute(ProcessStartInfo info, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{info.FileName} {string.Join(' ', info.ArgumentList)} did not finish in {timeout}");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }

    /// <summary>The values a worker printed as <c>rank R: key value</c>.</summary>
    public sealed record Result(int ExitCode, string Output, string Errors, TimeSpan Duration)
    {
        public IReadOnlyList<string> Values(string key) => Output.Split('\n')
            .Select(l => l.Trim().TrimStart('\u001b', '[', '?', '1', 'h', '='))
            .Where(l => l.StartsWith("rank ", StringComparison.Ordinal) && l.Contains($": {key} "))
            .Select(l => l[(l.IndexOf($": {key} ", StringComparison.Ordinal) + key.Length + 3)..]).ToList();

        public override string ToString() => $"exit {ExitCode} after {Duration.TotalSeconds:F0} s\n{Output}\n{Errors}";
    }

    private static string Built(string folder, string name)
    {
        var dll = Path.Combine(Root, folder, name, "bin", "Release", "net10.0", name + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"build the solution first (scripts/setup.sh builds it in Release): {dll}");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NfNet.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no NfNet.sln above {AppContext.BaseDirectory}");
    }
}
