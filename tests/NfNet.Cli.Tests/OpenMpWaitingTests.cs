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

    [Theory]
    [InlineData("", "10000", "OpenMP waiting: idle threads spin 10000 times")]          // the tool's own setting
    [InlineData("500", "500", "OpenMP waiting: GOMP_SPINCOUNT=500 from the environment")]  // a user's own setting wins
    public void LibgompReadsTheSpinTheToolChose(string userSetting, string libgompReads, string note)
    {
        var run = Train(new() { ["OMP_DISPLAY_ENV"] = "verbose", ["OMP_WAIT_POLICY"] = "", ["GOMP_SPINCOUNT"] = userSetting });
        Assert.True(run.Code == 0, run.All);
        Assert.Contains($"GOMP_SPINCOUNT = '{libgompReads}'", run.All);
        Assert.Contains(note, run.Output);
    }
}
