using System.Diagnostics;

namespace NfNet.Cli.Tests;

/// <summary>Runs the <c>nfnet</c> tool as a user does, in its own process: the built one (<c>dotnet NfNet.Cli.dll</c>) or
/// an installed one.</summary>
public static class Tool
{
    public static string Root { get; } = FindRoot();

    public static string Built => Path.Combine(Root, "src", "NfNet.Cli", "bin", "Release", "net10.0", "NfNet.Cli.dll");

    public static string FashionMnistSlice => Path.Combine(Root, "tests", "NfNet.Training.Tests", "Fixtures", "fashion-mnist-slice");

    public static string Images => Path.Combine(Root, "tests", "NfNet.Training.Tests", "Fixtures", "images");

    public sealed record Result(int Code, string Output, string Errors)
    {
        public string All => Output + Errors;
    }

    /// <summary><c>nfnet args…</c> with the built tool.</summary>
    public static Result Run(params string[] args) => Run(null, null, args);

    /// <summary>Runs <paramref name="executable"/> (null: <c>dotnet</c> with the built tool) with <paramref name="args"/>;
    /// <paramref name="environment"/> sets variables, and removes those it maps to an empty string.</summary>
    public static Result Run(string? executable, IDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(executable ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (executable is null) info.ArgumentList.Add(Built);
        foreach (var a in args) info.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (k, v) in environment)
                if (v.Length == 0) info.Environment.Remove(k);
                else info.Environment[k] = v;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"nfnet {string.Join(' ', args)} did not finish in 5 minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NfNet.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no NfNet.sln above {AppContext.BaseDirectory}");
    }
}
