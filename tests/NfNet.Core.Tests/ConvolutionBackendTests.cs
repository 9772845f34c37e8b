using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>The convolution backend's strategies, its opt-out rule, and the TorchSharp internals door.</summary>
public sealed class ConvolutionBackendTests
{
    private static readonly long[] One = { 1, 1 }, Two = { 2, 2 }, Zero = { 0, 0 };

    public static TheoryData<long, long, long, int, long[], ScalarType, int, string> Cases => new()
    {
        // in, out, kernel, map, stride, dtype, groups → strategy
        { 3, 16, 3, 32, Two, ScalarType.Float32, 1, nameof(ConvStrategy.NarrowChannelVerified) },     // an RGB stem
        { 128, 128, 3, 16, One, ScalarType.Float32, 1, nameof(ConvStrategy.Native) },                // wide: trusted
        { 128, 128, 3, 16, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.Native) },                // (channels-last on AMX)
        { 48, 16, 3, 8, Two, ScalarType.BFloat16, 1, nameof(ConvStrategy.NarrowChannelVerified) },    // a multiple of 16 below 64
        { 3, 16, 3, 32, Two, ScalarType.Float64, 1, nameof(ConvStrategy.Native) },                    // float64 is right natively
        { 512, 1024, 1, 8, Two, ScalarType.Float32, 1, nameof(ConvStrategy.Strided1x1) },             // the SIGFPE shape
        { 768, 1536, 1, 8, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.PointwiseAsMatmul) },     // bf16 1×1 on 8×8
        { 768, 1536, 1, 16, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.Native) },               // 16×16 is faster as a conv (channels-last on AMX)
        { 768, 1536, 1, 8, One, ScalarType.Float32, 1, nameof(ConvStrategy.Native) },                 // float32 keeps the conv
        { 1536, 768, 1, 1, One, ScalarType.Float32, 1, nameof(ConvStrategy.PointwiseAsMatmul) },      // but not on one pixel (SE)
        { 256, 256, 3, 8, One, ScalarType.Float32, 2, nameof(ConvStrategy.Native) },                  // 128 per group
        { 256, 256, 3, 8, One, ScalarType.Float32, 16, nameof(ConvStrategy.NarrowChannelVerified) },  // 16 per group
    };

    /// <summary>The rule on a CPU without AMX (the AMD EPYC it was measured on); ChannelsLastConvolutionTests holds the
    /// AMX branch, and which one this machine takes.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void EachConvolutionTakesItsNamedStrategy(long cin, long cout, long k, int map, long[] stride, ScalarType dtype, int groups, string expected)
    {
        Assert.True(ConvolutionBackend.WorkaroundsEnabled);
        using var x = zeros(new long[] { 1, cin, map, map }, dtype);
        using var w = zeros(new long[] { cout, cin / groups, k, k }, dtype);
        Assert.Equal(expected, ConvolutionBackend.StrategyFor(x, w, stride, k == 1 ? Zero : One, One, groups, amx: false).ToString());
    }

    [Fact]
    public void EveryStrategyComputesTheFloat64Convolution()
    {
        // One case per strategy, against libtorch's float64 convolution (which does not use oneDNN).
        var cases = new (long Cin, long Cout, long K, long[] Stride, ScalarType DType, double Tolerance)[]
        {
            (3, 16, 3, Two, ScalarType.Float32, 1e-5), (512, 1024, 1, Two, ScalarType.Float32, 1e-5),
            (768, 1536, 1, One, ScalarType.BFloat16, 2e-2), (128, 128, 3, One, ScalarType.Float32, 1e-5),
        };
        foreach (var (cin, cout, k, stride, dtype, tolerance) in cases)
        {
            using var scope = NewDisposeScope();
            manual_seed(4);
            var x = randn(new long[] { 2, cin, 8, 8 }, ScalarType.Float64);
            var w = randn(new long[] { cout, cin, k, k }, ScalarType.Float64).DividedBy(Math.Sqrt(cin * k * k));
            var padding = k == 1 ? Zero : One;
            var reference = nn.functional.conv2d(x.to(dtype).to(ScalarType.Float64), w.to(dtype).to(ScalarType.Float64), strides: stride, padding: padding);
            var y = ConvolutionBackend.Conv2d(x.to(dtype), w.to(dtype), null, stride, padding, One, 1).to(ScalarType.Float64);
            var error = ((y - reference).norm() / reference.norm()).ReadDouble();
            Assert.True(error < tolerance, $"{cin}→{cout} k{k} {dtype}: relative error {error:E2}");
        }
    }

    [Theory]
    [InlineData(null, null, false, false)]
    [InlineData(true, null, false, true)]
    [InlineData(false, "1", false, false)]   // the AppContext switch wins over the variable
    [InlineData(null, "1", false, true)]
    [InlineData(null, "TRUE", false, true)]
    [InlineData(null, " true ", false, true)]
    [InlineData(null, "0", true, false)]
    [InlineData(null, "False", true, false)]
    [InlineData(null, "", true, true)]        // unreadable: the default
    [InlineData(null, "yes", false, false)]
    public void EverySwitchFollowsOneRuleAppContextThenVariableThenDefault(bool? appContext, string? variable, bool defaultValue, bool on) =>
        Assert.Equal(on, Switches.Decide(appContext, variable, defaultValue));

    [Fact]
    public void TorchSharpStillHasEveryInternalMemberTheLibraryUses()
    {
        // Fails after a TorchSharp upgrade that moved one, naming it (see TorchSharpInternals).
        Assert.Equal(Array.Empty<string>(), TorchSharpInternals.CheckShape());
    }

    [Fact]
    public void TheInternalsDoorReadsRealValues()
    {
        using var t = Scalars.Arange(4, ScalarType.Float32);
        Assert.NotEqual(IntPtr.Zero, TorchSharpInternals.DataPointer(t));
        using var module = nn.Linear(2, 2);
        var sgd = optim.SGD(module.parameters(), 0.1, weight_decay: 0.25);
        Assert.Equal(0.25, TorchSharpInternals.DefaultWeightDecay(sgd));
        Assert.Equal(0.0, TorchSharpInternals.DefaultWeightDecay(optim.SGD(module.parameters(), 0.1)));
    }

    [Theory]
    [InlineData(64, 64, 3, 4, ScalarType.Float32)]    // the demo's stage 4: a grouped 3×3 on a 1×1 map
    [InlineData(32, 48, 5, 1, ScalarType.Float32)]    // 5×5, padding 2
    [InlineData(64, 64, 3, 1, ScalarType.BFloat16)]
    public void AKernelCentredOnASinglePixelIsItsCentreTapWithEveryGradient(long cin, long cout, long k, int groups, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        manual_seed(cin + k);
        long[] padding = { k / 2, k / 2 };
        var x64 = randn(new long[] { 5, cin, 1, 1 }, ScalarType.Float64);
        var w64 = randn(new long[] { cout, cin / groups, k, k }, ScalarType.Float64);
        var b64 = randn(new long[] { cout }, ScalarType.Float64);
        Tensor Leaf(Tensor t, ScalarType type) => t.to(dtype).to(type).requires_grad_();
        var (xr, wr, br) = (Leaf(x64, ScalarType.Float64), Leaf(w64, ScalarType.Float64), Leaf(b64, ScalarType.Float64));
        var yr = nn.functional.conv2d(xr, wr, br, padding: padding, groups: groups);   // libtorch's float64: every tap
        var gy = randn_like(yr).to(dtype);
        yr.backward(new[] { gy.to(ScalarType.Float64) });

        var (x, w, b) = (Leaf(x64, dtype), Leaf(w64, dtype), Leaf(b64, dtype));
        Assert.True(ConvolutionBackend.ReadsOnlyTheCentreTap(x, w, padding, One));
        var y = ConvolutionBackend.Conv2d(x, w, b, One, padding, One, groups);
        y.backward(new[] { gy });
        var tolerance = dtype == ScalarType.Float32 ? 1e-5 : 2e-2;
        Assert.True(NarrowConvTests.Relative(y, yr) < tolerance, $"forward off by {NarrowConvTests.Relative(y, yr):E2}");
        Assert.True(NarrowConvTests.Relative(x.grad!, xr.grad!) < tolerance, "input gradient");
        Assert.True(NarrowConvTests.Relative(w.grad!, wr.grad!) < tolerance, "weight gradient");
        // Taps that read only padding get exactly zero, as in the full convolution.
        using var corner = w.grad![TensorIndex.Colon, TensorIndex.Colon, 0, 0];
        Assert.Equal(0.0, corner.abs().max().to(ScalarType.Float64).item<double>());
        // Not a single pixel, a kernel off centre, or a 1×1 kernel: the ordinary rule.
        Assert.False(ConvolutionBackend.ReadsOnlyTheCentreTap(zeros(1, cin, 2, 2), w, padding, One));
        Assert.False(ConvolutionBackend.ReadsOnlyTheCentreTap(x, w, Zero, One));
        Assert.False(ConvolutionBackend.ReadsOnlyTheCentreTap(x, zeros(cout, cin, 1, 1), Zero, One));
    }
}
