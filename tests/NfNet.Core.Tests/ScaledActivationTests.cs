using MathNet.Numerics;
using MathNet.Numerics.Integration;
using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class ScaledActivationTests
{
    private static double Phi(double z) => Math.Exp(-z * z / 2) / Math.Sqrt(2 * Math.PI);

    private static double Gelu(double x) => 0.5 * x * (1 + SpecialFunctions.Erf(x / Math.Sqrt(2)));

    /// <summary>1 / sqrt(Var[f(z)]) for z ~ N(0, 1), by Gauss–Kronrod quadrature.</summary>
    private static double VariancePreservingGamma(Func<double, double> f)
    {
        var m1 = GaussKronrodRule.Integrate(z => f(z) * Phi(z), -12, 12, out _, out _, order: 61);
        var m2 = GaussKronrodRule.Integrate(z => f(z) * f(z) * Phi(z), -12, 12, out _, out _, order: 61);
        return 1 / Math.Sqrt(m2 - m1 * m1);
    }

    public static TheoryData<ActivationKind, Func<double, double>> Nonlinearities => new()
    {
        { ActivationKind.Relu, x => Math.Max(x, 0) },
        { ActivationKind.Gelu, Gelu },
        { ActivationKind.Silu, x => x / (1 + Math.Exp(-x)) },
        { ActivationKind.Tanh, Math.Tanh },
        { ActivationKind.Sigmoid, x => 1 / (1 + Math.Exp(-x)) },
        { ActivationKind.Elu, x => x > 0 ? x : Math.Exp(x) - 1 },
        { ActivationKind.Softplus, x => Math.Log(1 + Math.Exp(x)) },
        { ActivationKind.Softsign, x => x / (1 + Math.Abs(x)) },
        { ActivationKind.LeakyRelu, x => x > 0 ? x : 0.01 * x },
        { ActivationKind.Relu6, x => Math.Min(Math.Max(x, 0), 6) },
        { ActivationKind.LogSigmoid, x => -Math.Log(1 + Math.Exp(-x)) },
    };

    [Theory]
    [MemberData(nameof(Nonlinearities))]
    public void GammaMakesTheActivationVariancePreserving(ActivationKind kind, Func<double, double> f)
    {
        // DeepMind estimated the table by sampling; it agrees with exact quadrature to a few parts in a thousand.
        var exact = VariancePreservingGamma(f);
        Assert.InRange(ActivationGammas.Of(kind) / exact, 0.997, 1.003);
    }

    [Fact]
    public void TableHoldsTheReferenceConstants()
    {
        Assert.Equal(1.7015043497085571, ActivationGammas.Of(ActivationKind.Gelu));
        Assert.Equal(1.7015043497085571, ActivationGammas.Of(ActivationKind.GeluTanh));
        Assert.Equal(1.7139588594436646, ActivationGammas.Of(ActivationKind.Relu));
        Assert.Equal(1.7881293296813965, ActivationGammas.Of(ActivationKind.Silu));
        Assert.Equal(17, ActivationGammas.All.Count);
        Assert.All(Enum.GetValues<ActivationKind>(), k => Assert.True(ActivationGammas.Of(k) > 0));
    }

    [Fact]
    public void ScaledGeluIsGammaTimesExactGelu()
    {
        var xs = new[] { -3.0, -1.0, -0.25, 0.0, 0.5, 2.0 };
        using var act = new ScaledActivation(ActivationKind.Gelu);
        using var x = tensor(xs, dtype: ScalarType.Float64);
        using var y = act.forward(x);
        for (var i = 0; i < xs.Length; i++) Assert.Equal(1.7015043497085571 * Gelu(xs[i]), y[i].ReadDouble(), 12);
    }

    [Fact]
    public void TanhGeluFlavourIsTheApproximation()
    {
        static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        var xs = new[] { -3.0, -1.0, 0.5, 2.0 };
        using var act = new ScaledActivation(ActivationKind.GeluTanh);
        using var x = tensor(xs, dtype: ScalarType.Float64);
        using var y = act.forward(x);
        for (var i = 0; i < xs.Length; i++) Assert.Equal(ActivationGammas.Gelu * GeluTanh(xs[i]), y[i].ReadDouble(), 12);
    }

    [Theory]
    [InlineData("gelu", ActivationKind.Gelu)]
    [InlineData("swish", ActivationKind.Silu)]
    [InlineData("soft_sign", ActivationKind.Softsign)]
    [InlineData("GELU_TANH", ActivationKind.GeluTanh)]
    public void NamesParse(string name, ActivationKind kind) => Assert.Equal(kind, ActivationGammas.Parse(name));

    [Fact]
    public void UnknownNameIsRejected() => Assert.Throws<ArgumentException>(() => ActivationGammas.Parse("mish"));
}
