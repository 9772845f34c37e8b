using System.Reflection;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace NfNet.Reliability.Tests;

/// <summary>
/// No shipped assembly leaves a TorchSharp Scalar to the finalizer: read from the compiled IL, so every implicit
/// conversion and every TorchSharp method that makes a Scalar inside is found, whatever the source looks like.
/// </summary>
public sealed class ScalarOwnershipTests(ITestOutputHelper output)
{
    private static readonly Lazy<ScalarOwnershipScanner> Scanner = new(() => new ScalarOwnershipScanner());

    /// <summary>The shipped NfNet assemblies (the packable libraries under src/), from this test's output folder.</summary>
    public static TheoryData<string> ShippedAssemblies() =>
    [
        "NfNet.Core", "NfNet.Optim", "NfNet.Training", "NfNet.Baselines", "NfNet.Onnx", "NfNet.Onnx.Runtime", "NfNet.Distributed", "NfNet.Cli",
    ];

    [Theory]
    [MemberData(nameof(ShippedAssemblies))]
    public void NoShippedMethodLeavesAScalarToTheFinalizer(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        var findings = Scanner.Value.Scan(assembly).ToList();
        foreach (var f in findings) output.WriteLine(f);
        Assert.True(findings.Count == 0, $"{findings.Count} unowned Scalar(s) in {assemblyName}:\n" + string.Join("\n", findings));
    }

    /// <summary>
    /// The assemblies that are not shipped but run the library for hours: the test assemblies and programs (in hosts
    /// where xUnit's threads allocate, so an unowned Scalar there is the same use-after-free; two test hosts crashed,
    /// 2026-12-03), the samples users copy from, and the benchmarks. Folder under the repository root, then name.
    /// </summary>
    public static TheoryData<string, string> UnshippedAssemblies() => new()
    {
        { "tests", "NfNet.Core.Tests" }, { "tests", "NfNet.Optim.Tests" }, { "tests", "NfNet.Training.Tests" },
        { "tests", "NfNet.Baselines.Tests" }, { "tests", "NfNet.Onnx.Tests" }, { "tests", "NfNet.Distributed.Tests" },
        { "tests", "NfNet.Distributed.Worker" }, { "tests", "NfNet.Cli.Tests" }, { "tests", "NfNet.GcStress" },
        { "tests", "NfNet.Reliability.Tests" }, { "samples", "NfNet.Demo" }, { "samples", "NfNet.OnnxInference" },
        { "samples", "NfNet.Studies" }, { "benchmarks", "NfNet.Benchmarks" },
    };

    // Call sites that build TorchSharp's own hazardous module on purpose, as the reference the test compares with;
    // each runs its forward once, in a test that allocates nothing on another thread meanwhile.
    private static readonly string[] DeliberateReferences =
    [
        "NfNet.Baselines.Tests.BatchNormResNetTests.TheScalarSafeBatchNormEqualsTorchSharpsBatchNorm2d ",
    ];

    [Theory]
    [MemberData(nameof(UnshippedAssemblies))]
    public void NoTestSampleOrBenchmarkLeavesAScalarToTheFinalizer(string folder, string assemblyName)
    {
        var findings = Scanner.Value.Scan(Load(folder, assemblyName))
            .Where(f => !f.Contains($"{nameof(ScalarOwnershipTests)}.{nameof(Examples)}", StringComparison.Ordinal))
            .Where(f => !DeliberateReferences.Any(d => f.StartsWith(d, StringComparison.Ordinal)))
            .ToList();
        foreach (var f in findings) output.WriteLine(f);
        Assert.True(findings.Count == 0, $"{findings.Count} unowned Scalar(s) in {assemblyName} (use NfNet.Platform.Scalars or tests/Shared/TestScalars.cs):\n" + string.Join("\n", findings));
    }

    /// <summary>The xUnit test assemblies (the <c>*.Tests</c> under tests/ above): each must run its tests in the
    /// per-test scope of tests/Shared/TorchSharpTemporaries.cs, or its temporary tensors can be finalized while libtorch
    /// reads them.</summary>
    public static TheoryData<string> TestProjects()
    {
        var projects = new TheoryData<string>();
        foreach (var row in UnshippedAssemblies())
            if (row[0] is "tests" && row[1] is string name && name.EndsWith(".Tests", StringComparison.Ordinal)) projects.Add(name);
        return projects;
    }

    [Theory]
    [MemberData(nameof(TestProjects))]
    public void EveryTestProjectKeepsItsTemporaryTensorsAliveThroughEachTest(string assemblyName)
    {
        Assert.Contains(Load("tests", assemblyName).GetCustomAttributesData(), a => a.AttributeType.FullName == "NfNet.Testing.TemporariesLiveThroughEachTestAttribute");
    }

    internal static Assembly Load(string folder, string assemblyName) =>
        assemblyName == typeof(ScalarOwnershipTests).Assembly.GetName().Name
            ? typeof(ScalarOwnershipTests).Assembly
            : Assembly.LoadFrom(OutputOf(folder, assemblyName));

    // tests/<this>/bin/<configuration>/<tfm>/ → <folder>/<name>/bin/<configuration>/<tfm>/<name>.dll (built first:
    // the csproj references each project without copying it).
    private static string OutputOf(string folder, string assemblyName)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = output.Name;
        var configuration = output.Parent!.Name;
        var repositoryRoot = output.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(repositoryRoot, folder, assemblyName, "bin", configuration, tfm, assemblyName + ".dll");
        if (!File.Exists(path)) throw new FileNotFoundException($"{assemblyName} is not built at {path}; build the solution first", path);
        return path;
    }

    [Fact]
    public void TheScannerKnowsTorchSharpsHazards()
    {
        var scanner = Scanner.Value;
        output.WriteLine($"{scanner.HazardousTorchSharpMethods} TorchSharp methods make an unowned Scalar");
        var tensor = typeof(Tensor);
        // Each of these makes a Scalar inside and never disposes it (TorchSharp 0.107's source).
        Assert.True(scanner.IsHazardous(typeof(TensorExtensionMethods).GetMethod(nameof(TensorExtensionMethods.ToDouble), [typeof(Tensor)])!, out _));
        Assert.True(scanner.IsHazardous(tensor.GetMethod(nameof(Tensor.square), Type.EmptyTypes)!, out _));
        Assert.True(scanner.IsHazardous(tensor.GetMethod(nameof(Tensor.add_), [typeof(Tensor)])!, out _));
        // These take the caller's Scalar and make none.
        Assert.False(scanner.IsHazardous(tensor.GetMethod(nameof(Tensor.add_), [typeof(Tensor), typeof(Scalar)])!, out _));
        Assert.False(scanner.IsHazardous(tensor.GetMethod(nameof(Tensor.mul_), [typeof(Scalar)])!, out _));
        Assert.False(scanner.IsHazardous(tensor.GetMethod(nameof(Tensor.sum), [typeof(ScalarType?)])!, out _));
    }

    [Fact]
    public void TheScannerFindsAnImplicitConversionAndAcceptsAnOwnedScalar()
    {
        var findings = Scanner.Value.Scan(typeof(ScalarOwnershipTests).Assembly)
            .Where(f => f.Contains(nameof(Examples), StringComparison.Ordinal)).ToList();
        foreach (var f in findings) output.WriteLine(f);
        Assert.Contains(findings, f => f.Contains(nameof(Examples.Implicit)) && f.Contains("op_Implicit"));
        Assert.Contains(findings, f => f.Contains(nameof(Examples.ReadsThroughToDouble)) && f.Contains("ToDouble"));
        Assert.Contains(findings, f => f.Contains(nameof(Examples.ToScalarNotDisposed)) && f.Contains("ToScalar"));
        Assert.Contains(findings, f => f.Contains(nameof(Examples.BuildsTorchSharpsBatchNorm)) && f.Contains("BatchNorm"));
        Assert.DoesNotContain(findings, f => f.Contains(nameof(Examples.Owned)));
        Assert.DoesNotContain(findings, f => f.Contains(nameof(Examples.StaticConstant)));
        Assert.Equal(4, findings.Count);
    }

    /// <summary>Code the scanner is shown: four unowned Scalars and two owned ones.</summary>
    private static class Examples
    {
        private static readonly Scalar Half = 0.5.ToScalar();

        public static void Implicit(Tensor t) => t.mul_(0.5);

        public static double ReadsThroughToDouble(Tensor t) => t.ToDouble();

        public static void ToScalarNotDisposed(Tensor t) => t.mul_(0.25.ToScalar());

        public static void Owned(Tensor t, double x)
        {
            using var s = x.ToScalar();
            t.mul_(s);
        }

        public static void StaticConstant(Tensor t) => t.mul_(Half);

        public static nn.Module<Tensor, Tensor> BuildsTorchSharpsBatchNorm() => nn.BatchNorm2d(4);   // forward: add_(1)
    }
}
