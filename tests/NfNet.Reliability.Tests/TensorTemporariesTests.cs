using System.Reflection;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace NfNet.Reliability.Tests;

/// <summary>
/// No shipped method leaves a temporary tensor to the finalizer while libtorch may still read it: read from the
/// compiled IL of all shipped assemblies together, so a helper is judged by the scopes of the methods that call it.
/// </summary>
public sealed class TensorTemporariesTests(ITestOutputHelper output)
{
    private static readonly Assembly[] ShippedAssemblies =
        ScalarOwnershipTests.ShippedAssemblies().Cast<object[]>().Select(row => Assembly.Load((string)row[0])).ToArray();

    private static readonly Lazy<TensorTemporariesScanner> Shipped = new(() => new TensorTemporariesScanner(ShippedAssemblies));

    private static readonly Lazy<TensorTemporariesScanner> OfExamples = new(() =>
        new TensorTemporariesScanner([typeof(TensorTemporariesTests).Assembly]));

    [Theory]
    [MemberData(nameof(ScalarOwnershipTests.ShippedAssemblies), MemberType = typeof(ScalarOwnershipTests))]
    public void NoShippedMethodLeavesATemporaryTensorToTheFinalizer(string assemblyName)
    {
        var findings = Shipped.Value.Scan(Assembly.Load(assemblyName)).ToList();
        foreach (var f in findings) output.WriteLine(f);
        Assert.True(findings.Count == 0, $"{findings.Count} temporary tensor(s) outside any dispose scope in {assemblyName} " +
            "(hold each in a using variable, or open a dispose scope; docs/platform.md):\n" + string.Join("\n", findings));
    }

    /// <summary>The programs that are not xUnit test assemblies (those run each test in a scope of its own): the
    /// samples users copy from, the benchmarks, and the test programs that run the library for minutes. Folder, name.</summary>
    public static TheoryData<string, string> Programs()
    {
        var programs = new TheoryData<string, string>();
        foreach (var row in ScalarOwnershipTests.UnshippedAssemblies())
            if (row[1] is string name && !name.EndsWith(".Tests", StringComparison.Ordinal)) programs.Add((string)row[0], name);
        return programs;
    }

    [Theory]
    [MemberData(nameof(Programs))]
    public void NoSampleBenchmarkOrTestProgramLeavesATemporaryTensorToTheFinalizer(string folder, string assemblyName)
    {
        var program = ScalarOwnershipTests.Load(folder, assemblyName);
        var findings = new TensorTemporariesScanner(ShippedAssemblies.Append(program)).Scan(program).ToList();
        foreach (var f in findings) output.WriteLine(f);
        Assert.True(findings.Count == 0, $"{findings.Count} temporary tensor(s) outside any dispose scope in {assemblyName}:\n" + string.Join("\n", findings));
    }

    [Fact]
    public void TheScanFindsUnheldTemporariesAndAcceptsHeldOnes()
    {
        var findings = OfExamples.Value.Scan(typeof(TensorTemporariesTests).Assembly)
            .Where(f => f.Contains($"{nameof(TensorTemporariesTests)}.{nameof(Examples)}.", StringComparison.Ordinal)).ToList();
        foreach (var f in findings) output.WriteLine(f);
        string[] unheld = [nameof(Examples.Chained), nameof(Examples.LastUseIsNative), nameof(Examples.ArgumentToAHelper), nameof(Examples.InALoop)];
        foreach (var name in unheld)
            Assert.Contains(findings, f => f.Contains($".{name} (", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.Contains($".{nameof(Examples.Chained)} (", StringComparison.Ordinal) && f.Contains("Tensor.detach()", StringComparison.Ordinal));
        Assert.Equal(unheld.Length, findings.Count);
        Assert.True(OfExamples.Value.IsCovered(typeof(Examples).GetMethod(nameof(Examples.CalledOnlyFromAScope), BindingFlags.NonPublic | BindingFlags.Static)!));
        Assert.False(OfExamples.Value.IsCovered(typeof(Examples).GetMethod(nameof(Examples.Chained))!));
    }

    /// <summary>The examples compute what they say (the scan reads their IL; this runs it).</summary>
    [Fact]
    public void TheExamplesRun()
    {
        using var t = tensor(new[] { -1.0f, 2.0f, -3.0f });
        using var doubled = Examples.Chained(t);
        Assert.Equal(new[] { -1.0f, 2.0f, -3.0f }, doubled.data<float>().ToArray());
        using var held = Examples.Scoped(t);
        Assert.Equal(new[] { 1.0f, 2.0f, 3.0f }, held.data<float>().ToArray());
    }

    /// <summary>Code the scanner is shown: four unheld temporaries (the first four) and eight held ones.</summary>
    private static class Examples
    {
        private static Tensor? s_kept;

        // The detached view is unreachable while libtorch copies from it (the moving average's crash).
        public static Tensor Chained(Tensor t) => t.detach().clone();

        public static Tensor LastUseIsNative(Tensor t)
        {
            var a = t.abs();
            return a.neg();
        }

        public static Tensor ArgumentToAHelper(Tensor t) => Negated(t.abs());

        private static Tensor Negated(Tensor t) => t.neg();

        public static void InALoop(Tensor[] ts)
        {
            foreach (var t in ts)
            {
                var a = t.abs();
                a.sum().Dispose();
            }
        }

        public static Tensor Using(Tensor t)
        {
            using var a = t.abs();
            return a.neg();
        }

        public static Tensor Returned(Tensor t) => t.abs();

        public static void KeptInAField(Tensor t) => s_kept = t.abs();

        public static Tensor InPlaceChain(Tensor t) => t.abs().neg_().abs_();

        public static Tensor DetachedAndReturned(Tensor t)
        {
            var s = t.abs();
            s.DetachFromDisposeScope();
            return s;
        }

        public static Tensor EitherArm(Tensor t, bool b)
        {
            using var a = b ? t.abs() : t.neg();
            return a.relu();
        }

        public static Tensor Scoped(Tensor t)
        {
            using var scope = NewDisposeScope();
            return CalledOnlyFromAScope(t).MoveToOuterDisposeScope();
        }

        // Not visible outside this assembly and called only from Scoped: the caller's scope holds its temporaries.
        internal static Tensor CalledOnlyFromAScope(Tensor t) => t.abs().relu();
    }
}
