using System.Globalization;
using System.Text;

namespace NfNet.Studies;

/// <summary>A study's table (Markdown and CSV), notes, and a plot drawn by <see cref="Plot"/>.</summary>
public sealed class StudyResult
{
    /// <summary>Creates the result with its title and column names.</summary>
    public StudyResult(string title, params string[] columns)
    {
        Title = title;
        Columns = columns;
    }

    /// <summary>Title.</summary>
    public string Title { get; }
    /// <summary>Column names.</summary>
    public IReadOnlyList<string> Columns { get; }
    /// <summary>Rows (cells already formatted).</summary>
    public List<string[]> Rows { get; } = new();
    /// <summary>Lines printed under the table (settings, the machine, what the numbers mean).</summary>
    public List<string> Notes { get; } = new();
    /// <summary>Draws the PNG.</summary>
    public Action<ScottPlot.Plot>? Plot { get; set; }

    /// <summary>Adds a row; numbers are formatted with the invariant culture.</summary>
    public void Add(params object[] cells)
    {
        if (cells.Length != Columns.Count) throw new ArgumentException($"{cells.Length} cells for {Columns.Count} columns");
        Rows.Add(cells.Select(c => c switch
        {
            double d => double.IsNaN(d) ? "–" : d.ToString("0.###", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => c?.ToString() ?? "",
        }).ToArray());
    }

    /// <summary>The table as Markdown with the notes below it.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"### {Title}").AppendLine();
        sb.AppendLine("| " + string.Join(" | ", Columns) + " |");
        sb.AppendLine("|" + string.Concat(Columns.Select(_ => "---|")));
        foreach (var r in Rows) sb.AppendLine("| " + string.Join(" | ", r) + " |");
        if (Notes.Count > 0) sb.AppendLine().AppendLine(string.Join(Environment.NewLine, Notes.Select(n => "- " + n)));
        return sb.ToString();
    }

    /// <summary>Writes <c>name.md</c>, <c>name.csv</c> and <c>name.png</c> into <paramref name="directory"/>.</summary>
    public void Write(string directory, string name)
    {
        File.WriteAllText(Path.Combine(directory, name + ".md"), ToMarkdown());
        var csv = new StringBuilder().AppendLine(string.Join(',', Columns.Select(Quote)));
        foreach (var r in Rows) csv.AppendLine(string.Join(',', r.Select(Quote)));
        File.WriteAllText(Path.Combine(directory, name + ".csv"), csv.ToString());
        var plot = new ScottPlot.Plot();
        plot.Title(Title);
        Plot?.Invoke(plot);
        plot.SavePng(Path.Combine(directory, name + ".png"), 900, 500);
    }

    private static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
