using Xunit;

namespace NfNet.Cli.Tests;

/// <summary>
/// The tool limits libgomp's spinning for itself (GOMP_SPINCOUNT 10,000) before libtorch loads, so that two processes
/// on the same cores do not starve each other; a user's own setting wins. libgomp's own report of its settings
/// (<c>OMP_DISPLAY_ENV=verbose</c>) is the reference: it shows what the OpenMP runtime actually read.
/// </summary>
public sealed class OpenMpWaitingTests
{
    private static Tool.Result Train(Dictionary<string, string> environment) =>
        Tool.Run(null, environment, "train", "--data", Tool.FashionMnistSlice, "--limit", "64", "--epochs", "1", "--batch", "32",
            "--out", Path.Combine(Path.GetTempPath(), $"nfnet-omp-{Guid.NewGuid():N}"));

    [Fact]
    public void TheToolSetsAShortSpinThatLibgompReads()
    {
        var run = Train(new() { ["OMP_DISPLAY_ENV"] = "verbose", ["OMP_WAIT_POLICY"] = "", ["GOMP_SPINCOUNT"] = "" });
        Assert.True(run.Code == 0, run.All);
        Assert.Contains("GOMP_SPINCOUNT = '10000'", run.All);
        Assert.Contains("OpenMP waiting: idle threads spin 10000 times", run.Output);
    }

    [Fact]
    public void AUsersOwnSettingWins()
    {
        var run = Train(new() { ["OMP_DISPLAY_ENV"] = "verbose", ["OMP_WAIT_POLICY"] = "", ["GOMP_SPINCOUNT"] = "500" });
        Assert.True(run.Code == 0, run.All);
        Assert.Contains("GOMP_SPINCOUNT = '500'", run.All);
        Assert.Contains("OpenMP waiting: GOMP_SPINCOUNT=500 from the environment", run.Output);
    }
}
