using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace NfNet.Training.Tests;

/// <summary>
/// Runs every notebook in samples/notebooks in the real .NET Interactive kernel (<c>dotnet-repl</c>, pinned in the
/// repository's tool manifest), as a user would: the libraries are packed into a fresh local feed, the notebook's own
/// <c>#i "nuget: …"</c> line is pointed at it, and its <c>#r "nuget: …"</c> lines restore the packages. The cells run
/// on the committed Fashion-MNIST slice (through the environment variables the notebook reads) and must all succeed
/// and write their plots.
/// </summary>
[Trait("Category", "Slow")]
public sealed class NotebookTests(ITestOutputHelper output) : IDisposable
{
    private static readonly Regex FeedLine = new("^#i \"nuget: [^\"]*\"", RegexOptions.Multiline);
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-notebook-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Notebooks()
    {
        var data = new TheoryData<string>();
        foreach (var path in Directory.GetFiles(Path.Combine(Repository.Root, "samples", "notebooks"), "*.ipynb"))
            data.Add(Path.GetFileName(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public void NotebookRunsToItsLastCellInTheDotNetInteractiveKernel(string name)
    {
        var root = Repository.Root;
        var feed = Path.Combine(_dir, "feed");
        var version = $"0.1.0-notebook.{DateTime.UtcNow:yyyyMMddHHmmss}{Environment.ProcessId}";
        Run(root, "bash", new[] { "scripts/pack.sh", feed, version }, null, TimeSpan.FromMinutes(5));

        // The notebook as committed, with its feed line pointing at this test's feed (what its first cell tells a user to do).
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "samples", "notebooks", name)));
        var text = doc.RootElement.GetRawText();
        var json = System.Text.Json.Nodes.JsonNode.Parse(text)!;
        var pointed = 0;
        foreach (var cell in json["cells"]!.AsArray())
        {
            var source = string.Concat(cell!["source"]!.AsArray().Select(s => s!.GetValue<string>()));
            if (!FeedLine.IsMatch(source)) continue;
            cell["source"] = new System.Text.Json.Nodes.JsonArray(FeedLine.Replace(source, $"#i \"nuget: {feed}\""));
            pointed++;
        }
        Assert.Equal(1, pointed);
        var notebook = Path.Combine(_dir, name);
        File.WriteAllText(notebook, json.ToJsonString());

        var outDir = Path.Combine(_dir, "out");
        var executed = Path.Combine(_dir, "executed-" + name);
        var env = new Dictionary<string, string>
        {
            ["NFNET_DATA"] = Slice.Directory, ["NFNET_EPOCHS"] = "1", ["NFNET_LIMIT"] = "512", ["NFNET_OUT"] = outDir,
        };
        var (exit, log) = Run(root, "dotnet", new[] { "tool", "run", "dotnet-repl", "--", "--run", notebook, "--exit-after-run", "--output-path", executed },
            env, TimeSpan.FromMinutes(8), check: false);

        var errors = Outputs(executed).Where(o => o.Type == "error").Select(o => o.Text).ToArray();
        Assert.True(exit == 0 && errors.Length == 0, $"dotnet-repl exited {exit}; cell errors: {string.Join(" | ", errors)}\n{log}");
        var text2 = string.Join("\n", Outputs(executed).Select(o => o.Text));
        output.WriteLine(text2);
        Assert.Matches(@"test top-1 \d+\.\d+ %", text2);
        foreach (var png in new[] { "curves.png", "spp.png" })
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(outDir, png))[..4]);
    }

    private static IEnumerable<(string Type, string Text)> Outputs(string executedNotebook)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(executedNotebook));
        var result = new List<(string, string)>();
        foreach (var cell in doc.RootElement.GetProperty("cells").EnumerateArray())
            if (cell.TryGetProperty("outputs", out var outputs))
                foreach (var o in outputs.EnumerateArray())
                    result.Add((o.GetProperty("output_type").GetString()!, o.GetRawText()));
        return result;
    }

    private static (int Exit, string Log) Run(string workingDirectory, string file, string[] arguments, Dictionary<string, string>? env,
        TimeSpan timeout, bool check = true)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new()) info.Environment[k] = v;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish in {timeout}");
        }
        var log = stdout.Result + stderr.Result;
        if (check && process.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}:\n{log}");
        return (process.ExitCode, log.Length > 4000 ? log[^4000..] : log);
    }
}
