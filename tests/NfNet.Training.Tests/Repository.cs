namespace NfNet.Training.Tests;

/// <summary>The repository the tests run from (samples and notebooks are used as a user would use them).</summary>
internal static class Repository
{
    /// <summary>The folder holding NfNet.sln, above the test assembly.</summary>
    public static string Root { get; } = Find();

    /// <summary>The built <c>nfnet</c> tool (run it as <c>dotnet Tool COMMAND …</c>).</summary>
    public static string Tool
    {
        get
        {
            var dll = Path.Combine(Root, "src", "NfNet.Cli", "bin", "Release", "net10.0", "NfNet.Cli.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"build the solution first (scripts/setup.sh builds it in Release): {dll}");
        }
    }

    /// <summary>A built sample's assembly, e.g. <c>Sample("NfNet.OnnxInference")</c>.</summary>
    /// <exception cref="FileNotFoundException">It was not built (scripts/setup.sh builds the solution in Release).</exception>
    public static string Sample(string name)
    {
        var dll = Path.Combine(Root, "samples", name, "bin", "Release", "net10.0", name + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"build the sample first (scripts/setup.sh builds the solution in Release): {dll}");
    }

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NfNet.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no NfNet.sln above {AppContext.BaseDirectory}");
    }
}
