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
