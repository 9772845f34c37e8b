using NfNet.Studies;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>Each study sample runs end to end in its reduced <c>--quick</c> mode on the committed Fashion-MNIST slice and
/// writes its table, CSV and plot; the tables carry the behaviour each study is about.</summary>
[Trait("Category", "Slow")]
public sealed class StudyTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "nfnet-study-tests-" + Guid.NewGuid().ToString("N"));

    private string[] RunQuick(string study)
    {
        var log = new StringWriter();
        var code = StudyRunner.Run(new[] { study, "--quick", "--data", Slice.Directory, "--out", _out }, log);
        Assert.True(code == 0, log.ToString());
        foreach (var ext in new[] { ".md", ".csv", ".png" })
            Assert.True(new FileInfo(Path.Combine(_out, study + ext)).Length > 0, $"{study}{ext} missing");
        var png = File.ReadAllBytes(Path.Combine(_out, study + ".png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        return File.ReadAllLines(Path.Combine(_out, study + ".csv"));
    }

    private static string[] Cells(string line) => line.Split(',');

    [Fact]
    public void SmallBatchStudyShowsNoTrainEvalGapForNormalizerFreeNets()
    {
        var rows = RunQuick("small-batch").Skip(1).Select(Cells).ToList();
        Assert.Equal(3 * 2, rows.Count); // 3 models × batches 2 and 32
        // Without batch norm (and without dropout or stochastic depth) train mode and eval mode compute the same function.
        foreach (var r in rows.Where(r => r[0] != "BN-ResNet"))
            Assert.Equal(r[4], r[5]);
        Assert.All(rows, r => Assert.InRange(double.Parse(r[4], System.Globalization.CultureInfo.InvariantCulture), 0, 100));
    }

    [Fact]
    public void LargeBatchStudyDivergesWithoutClippingAndNotWithIt()
    {
        var rows = RunQuick("large-batch").Skip(1).Select(Cells).ToList();
        Assert.Equal(4, rows.Count);
        // At 3.2 per 256 images: plain SGD reaches a NaN loss, AGC keeps the run finite.
        Assert.Equal("–", rows.Single(r => r[0] == "yes" && r[1] == "3.2")[3]);
        Assert.NotEqual("–", rows.Single(r => r[0] == "no" && r[1] == "3.2")[3]);
    }

    [Fact]
    public void DlbStudyRunsBothMethods()
    {
        var rows = RunQuick("dlb").Skip(1).Select(Cells).ToList();
        Assert.Equal(new[] { "plain", "DLB", "plain", "DLB" }, rows.Select(r => r[0]));
    }

    [Fact]
    public void ProgressiveStudyRunsTheScheduleAndBothBaselines()
    {
        var rows = RunQuick("progressive").Skip(1).Select(Cells).ToList();
        Assert.Equal(4, rows.Count);
        Assert.Equal("16→32", rows[0][2]); // two stages of the paper schedule: 16, then 32 px
    }

    [Fact]
    public void StepTimeStudyReportsBatchNormsShare()
    {
        var rows = RunQuick("step-time").Skip(1).Select(Cells).ToList();
        Assert.Equal(4, rows.Count);
        Assert.Contains("Batch norm's share", File.ReadAllText(Path.Combine(_out, "step-time.md")));
    }

    [Fact]
    public void BadArgumentsAreRefusedWithExitCodeTwo()
    {
        Assert.Equal(2, StudyRunner.Run(new[] { "no-such-study" }, TextWriter.Null));
        Assert.Equal(2, StudyRunner.Run(new[] { "dlb", "--seed", "x" }, TextWriter.Null));
    }

    public void Dispose()
    {
        if (Directory.Exists(_out)) Directory.Delete(_out, recursive: true);
    }
}
