using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NfNet.Platform;
using Xunit;

namespace NfNet.Reliability.Tests;

/// <summary>
/// The manual keeps its promises: every C# block of README.md, CONTRIBUTING.md and docs/*.md compiles against the
/// shipped assemblies (as a program of its own, with the SDK's implicit usings), and the platform page's switch table is
/// the library's.
/// </summary>
public sealed partial class DocumentationSnippetTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NfNet.sln")) && File.Exists(Path.Combine(dir.FullName, "README.md"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no repository root (NfNet.sln and README.md) above {AppContext.BaseDirectory}");
    }

    private static IEnumerable<string> ManualFiles() =>
        new[] { Path.Combine(Root, "README.md"), Path.Combine(Root, "CONTRIBUTING.md") }
            .Concat(Directory.GetFiles(Path.Combine(Root, "docs"), "*.md"))
            .Where(File.Exists);

    /// <summary>Every ```csharp block: file (relative), first line of code, and the code.</summary>
    public static TheoryData<string, int> Snippets()
    {
        var data = new TheoryData<string, int>();
        foreach (var (file, line, _) in AllSnippets()) data.Add(file, line);
        return data;
    }

    private static IEnumerable<(string File, int Line, string Code)> AllSnippets()
    {
        foreach (var path in ManualFiles())
        {
            var lines = File.ReadAllLines(path);
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Trim() != "```csharp") continue;
                var indent = lines[i].Length - lines[i].TrimStart().Length;
                var start = i + 1;
                var end = start;
                while (end < lines.Length && lines[end].Trim() != "```") end++;
                var code = string.Join('\n', lines[start..end].Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
                yield return (Path.GetRelativePath(Root, path), start + 1, code);
                i = end;
            }
        }
    }

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(IsManagedAssembly)
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .Select(g => g.First());
        return paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
    });

    private static bool IsManagedAssembly(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var pe = new PEReader(stream);
            return pe.HasMetadata && pe.GetMetadataReader().IsAssembly;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    // The .NET SDK's implicit usings for a console application.
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    [Fact]
    public void TheManualHasCSharpSnippetsInTheReadmeAndEveryTopicPage()
    {
        var files = AllSnippets().Select(s => s.File).Distinct().ToArray();
        Assert.Contains("README.md", files);
        foreach (var page in new[] { "models-and-weights", "training", "image-data", "distributed", "checkpoints", "onnx", "platform" })
            Assert.Contains(Path.Combine("docs", page + ".md"), files);
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void EverySnippetCompiles(string file, int line)
    {
        var code = AllSnippets().Single(s => s.File == file && s.Line == line).Code;
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var compilation = CSharpCompilation.Create($"Snippet_{Path.GetFileNameWithoutExtension(file)}_{line}",
            new[] { CSharpSyntaxTree.ParseText(ImplicitUsings, parse), CSharpSyntaxTree.ParseText(code, parse, path: $"{file}:{line}") },
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Assert.True(errors.Length == 0,
            $"the C# block at {file}:{line} does not compile:\n{string.Join("\n", errors.Select(e => $"  line {e.Location.GetLineSpan().StartLinePosition.Line + 1}: {e.GetMessage()}"))}\n{code}");
    }

    [GeneratedRegex(@"^\| `(?<switch>[^`]+)` \| `(?<variable>[^`]+)` \| (?<default>on|off) \|")]
    private static partial Regex SwitchRow();

    [Fact]
    public void ThePlatformPagesSwitchTableIsTheLibrarysTable()
    {
        var rows = File.ReadAllLines(Path.Combine(Root, "docs", "platform.md"))
            .Select(l => SwitchRow().Match(l)).Where(m => m.Success)
            .Select(m => (m.Groups["switch"].Value, m.Groups["variable"].Value, m.Groups["default"].Value == "on"))
            .ToArray();
        Assert.Equal(PlatformSwitches.All.Select(s => (s.AppContextName, s.EnvironmentVariable, s.DefaultValue)), rows);
        Assert.Equal(PlatformSwitches.All.Count, PlatformSwitches.All.Select(s => s.AppContextName).Distinct().Count());
        Assert.All(PlatformSwitches.All, s => Assert.StartsWith("NFNET_", s.EnvironmentVariable));
    }
}
