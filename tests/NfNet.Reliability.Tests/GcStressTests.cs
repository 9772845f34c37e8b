using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace NfNet.Reliability.Tests;

/// <summary>
/// The library's real training step (AGC + SGD, SAM, EMA, evaluation, the image loader's worker threads, checkpoints
/// saved and loaded) runs for two minutes while two threads force garbage collections and run finalizers without pause,
/// with glibc filling freed memory (<c>MALLOC_PERTURB_</c>): not one step may fail. Before the Scalar fix this program
/// aborted the process or failed a step in every round (see the README's platform notes).
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class GcStressTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"^gc-stress: (\d+) steps in (\d+) rounds, (\d+) errors")]
    private static partial Regex Summary();

    [Fact]
    public void TheTrainingStepSurvivesGarbageCollectionPressure()
    {
        var root = FindRepositoryRoot();
        var program = Path.Combine(root, "tests", "NfNet.GcStress", "bin", "Release", "net10.0", "NfNet.GcStress.dll");
        Assert.True(File.Exists(program), $"build the solution first (scripts/setup.sh): {program}");
        var images = Path.Combine(root, "tests", "NfNet.Training.Tests", "Fixtures", "images");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { program, "--images", images, "--seconds", "120", "--collectors", "2" }) info.ArgumentList.Add(a);
        info.Environment["MALLOC_PERTURB_"] = "165";
        using var process = Process.Start(info)!;
        var lines = new List<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add("! " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("the GC-stress run did not finish in 8 minutes");
        }
        process.WaitForExit();
        lock (lines) foreach (var line in lines) output.WriteLine(line);
        var summary = lines.Select(l => Summary().Match(l)).SingleOrDefault(m => m.Success);
        Assert.True(summary is not null, $"no summary line (exit code {process.ExitCode}: 134 is an abort in native code)");
        Assert.Equal("0", summary.Groups[3].Value);
        Assert.True(long.Parse(summary.Groups[1].Value) >= 24, "fewer than 24 steps (two rounds) ran: the stress did not stress");
        Assert.Equal(0, process.ExitCode);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NfNet.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no NfNet.sln above {AppContext.BaseDirectory}");
    }
}
