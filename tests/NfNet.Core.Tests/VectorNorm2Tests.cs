using NfNet.Platform;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Core.Tests;

/// <summary><see cref="Scalars.VectorNorm2"/> against Euclidean norms written out in float64: over everything, one
/// dimension, and trailing dimensions (AGC's unit-wise norms), with and without kept dimensions.</summary>
public sealed class VectorNorm2Tests
{
    // [2, 2, 3]: unit 0 holds 1…6, unit 1 holds -1…-6 (values by hand, so every norm below is a known sum of squares).
    private static Tensor Units() => tensor(new double[] { 1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6 }, ScalarType.Float64).reshape(2, 2, 3);

    [Fact]
    public void OverEverythingIsTheRootOfAllSquares()
    {
        using var t = Units();
        using var whole = t.VectorNorm2();
        Assert.Equal(0, whole.dim());
        Assert.Equal(Math.Sqrt(2 * 91.0), whole.item<double>(), 14);   // 1² + … + 6² = 91, twice
        using var kept = t.VectorNorm2(keepdim: true);
        Assert.Equal(new long[] { 1, 1, 1 }, Shapes.Of(kept));
        Assert.Equal(Math.Sqrt(182.0), kept.item<double>(), 14);
    }

    [Fact]
    public void OverTrailingDimensionsIsOneNormPerUnit()
    {
        using var t = Units();
        using var perUnit = t.VectorNorm2([1, 2]);
        Assert.Equal(new long[] { 2 }, Shapes.Of(perUnit));
        Assert.Equal(new[] { Math.Sqrt(91.0), Math.Sqrt(91.0) }, perUnit.data<double>().ToArray());
        using var kept = t.VectorNorm2([-2, -1], keepdim: true);
        Assert.Equal(new long[] { 2, 1, 1 }, Shapes.Of(kept));
        using var rows = t.VectorNorm2([2]);   // one dimension: each row of three
        Assert.Equal(new[] { Math.Sqrt(14.0), Math.Sqrt(77.0), Math.Sqrt(14.0), Math.Sqrt(77.0) }, rows.data<double>().ToArray());
    }

    [Fact]
    public void LeadingDimensionsAreRejectedNamingThem()
    {
        using var t = Units();
        var e = Assert.Throws<ArgumentException>(() => t.VectorNorm2([0, 1]));
        Assert.Equal("dims", e.ParamName);
        Assert.Contains("[0, 1]", e.Message, StringComparison.Ordinal);
    }
}
