using System.Text.Json;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>
/// Runs the C# cells of every notebook in samples/notebooks offline with Roslyn scripting, on the committed
/// Fashion-MNIST slice, so the notebooks cannot rot. <c>#r "nuget: …"</c> lines are replaced by references to the
/// assemblies this test project builds.
/// </summary>
public sealed class NotebookTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-notebook-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Notebooks()
    {
        var data = new TheoryData<string>();
        foreach (var path in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Notebooks"), "*.ipynb"))
            data.Add(Path.GetFileName(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public async Task NotebookRunsOnTheSlice(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Notebooks", name)));
        var cells = doc.RootElement.GetProperty("cells").EnumerateArray()
            .Where(c => c.GetProperty("cell_type").GetString() == "code")
            .Select(c => string.Concat(c.GetProperty("source").EnumerateArray().Select(s => s.GetString())))
            .Select(src => string.Join('\n', src.Split('\n').Where(l => !l.TrimStart().StartsWith("#r \"nuget:", StringComparison.Ordinal))))
            .ToArray();
        Assert.True(cells.Length >= 3);

        var outDir = Path.Combine(_dir, name);
        Environment.SetEnvironmentVariable("NFNET_DATA", Slice.Directory);
        Environment.SetEnvironmentVariable("NFNET_EPOCHS", "1");
        Environment.SetEnvironmentVariable("NFNET_LIMIT", "512");
        Environment.SetEnvironmentVariable("NFNET_OUT", outDir);
        var options = ScriptOptions.Default
            .AddReferences(typeof(Trainer).Assembly, typeof(NfNet.Models.NFNet).Assembly, typeof(NfNet.Optim.NFNetRecipe).Assembly,
                typeof(TorchSharp.torch).Assembly)
            .AddImports("System", "System.IO", "System.Linq", "System.Collections.Generic");
        ScriptState<object>? state = null;
        foreach (var cell in cells)
            state = state is null ? await CSharpScript.RunAsync(cell, options) : await state.ContinueWithAsync(cell, options);
        Assert.Null(state!.Exception);
        Assert.Contains("test top-1", state.Variables.Any() ? Render(state, cells) : "");
        Assert.True(File.Exists(Path.Combine(outDir, "curves.png")));
        Assert.True(File.Exists(Path.Combine(outDir, "spp.png")));
    }

    private static string Render(ScriptState<object> state, string[] cells)
    {
        // The training cell's trailing expression is the summary line; re-evaluate it from the variables.
        var history = state.GetVariable("history")?.Value as IReadOnlyList<EpochMetrics>;
        return history is null ? "" : $"test top-1 {history[^1].Test!.Top1:P2}";
    }
}
