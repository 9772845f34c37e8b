using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>The channels-last strategy (and the float32 pointwise products) on Intel AMX CPUs: where the rule takes them
/// (on either kind of CPU), that they compute the float64 convolution with every gradient, and that a model's activations
/// keep the layout.</summary>
public sealed class ChannelsLastConvolutionTests
{
    private static readonly long[] One = { 1, 1 }, Two = { 2, 2 }, Zero = { 0, 0 };

    private static double Relative(Tensor approx, Tensor exact) => NarrowConvTests.Relative(approx, exact);

    public static TheoryData<long, long, long, int, long[], ScalarType, int, string, string> Cases => new()
    {
        // in, out, kernel, map, stride, dtype, groups → strategy on an AMX CPU, and on one without
        { 128, 128, 3, 16, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.ChannelsLast), nameof(ConvStrategy.Native) },
        { 256, 256, 3, 32, One, ScalarType.BFloat16, 2, nameof(ConvStrategy.ChannelsLast), nameof(ConvStrategy.Native) },  // 128 per group
        { 768, 1536, 1, 16, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.ChannelsLast), nameof(ConvStrategy.Native) },
        { 768, 1536, 1, 12, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.ChannelsLast), nameof(ConvStrategy.Native) },  // F0's stage 3 at 192 px
        { 768, 768, 3, 18, Two, ScalarType.BFloat16, 6, nameof(ConvStrategy.ChannelsLast), nameof(ConvStrategy.Native) },   // 18 → 9×9 out
        { 768, 768, 3, 16, Two, ScalarType.BFloat16, 6, nameof(ConvStrategy.Native), nameof(ConvStrategy.Native) },         // 16 → 8×8 out
        { 768, 768, 3, 8, One, ScalarType.BFloat16, 6, nameof(ConvStrategy.Native), nameof(ConvStrategy.Native) },          // 8×8: as fast NCHW
        { 768, 1536, 1, 8, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.PointwiseAsMatmul), nameof(ConvStrategy.PointwiseAsMatmul) },
        { 128, 128, 3, 16, One, ScalarType.Float32, 1, nameof(ConvStrategy.ChannelsLast), nameof(ConvStrategy.Native) },    // float32 too
        { 768, 1536, 1, 8, One, ScalarType.Float32, 1, nameof(ConvStrategy.PointwiseAsMatmul), nameof(ConvStrategy.Native) }, // MKL's full rate
        { 1536, 768, 1, 1, One, ScalarType.Float32, 1, nameof(ConvStrategy.PointwiseAsMatmul), nameof(ConvStrategy.PointwiseAsMatmul) },
        { 768, 1536, 1, 9, One, ScalarType.Float32, 1, nameof(ConvStrategy.ChannelsLast), nameof(ConvStrategy.Native) },
        { 128, 128, 3, 16, One, ScalarType.Float64, 1, nameof(ConvStrategy.Native), nameof(ConvStrategy.Native) },          // float64: libtorch's own
        { 3, 16, 3, 32, Two, ScalarType.BFloat16, 1, nameof(ConvStrategy.NarrowChannelVerified), nameof(ConvStrategy.NarrowChannelVerified) },
        { 48, 64, 3, 32, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.NarrowChannelVerified), nameof(ConvStrategy.NarrowChannelVerified) },
        { 256, 256, 3, 16, One, ScalarType.BFloat16, 16, nameof(ConvStrategy.NarrowChannelVerified), nameof(ConvStrategy.NarrowChannelVerified) },
        { 512, 1024, 1, 16, Two, ScalarType.BFloat16, 1, nameof(ConvStrategy.Strided1x1), nameof(ConvStrategy.Strided1x1) },
        { 64, 32, 1, 1, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.PointwiseAsMatmul), nameof(ConvStrategy.NarrowChannelVerified) }, // the demo's SE FC
        { 64, 48, 1, 4, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.PointwiseAsMatmul), nameof(ConvStrategy.NarrowChannelVerified) },
        { 24, 64, 1, 4, One, ScalarType.BFloat16, 1, nameof(ConvStrategy.NarrowChannelVerified), nameof(ConvStrategy.NarrowChannelVerified) }, // not a multiple of 16
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OnAmxWideConvolutionsAboveEightByEightRunChannelsLastAndSmallerPointwiseOnesAsProducts(long cin, long cout, long k, int map, long[] stride,
        ScalarType dtype, int groups, string onAmx, string without)
    {
        using var x = zeros(new long[] { 1, cin, map, map }, dtype);
        using var w = zeros(new long[] { cout, cin / groups, k, k }, dtype);
        var padding = k == 1 ? Zero : One;
        Assert.Equal(onAmx, ConvolutionBackend.StrategyFor(x, w, stride, padding, One, groups, amx: true).ToString());
        Assert.Equal(without, ConvolutionBackend.StrategyFor(x, w, stride, padding, One, groups, amx: false).ToString());
        // This machine takes the branch its processor calls for.
        var here = ChannelsLastConvolution.PreferredHere ? onAmx : without;
        Assert.Equal(here, ConvolutionBackend.StrategyFor(x, w, stride, padding, groups).ToString());
    }

    [Fact]
    public void OnAmxFloat32PointwiseConvolutionsOnLargeChannelsLastMapsWithWideOutputsTakeTheProduct()
    {
        using var scope = NewDisposeScope();
        ConvStrategy On(Tensor x, Tensor w, bool amx) => ConvolutionBackend.StrategyFor(x, w, One, Zero, One, 1, amx);
        var stage3At192 = LayoutConversion.ToChannelsLast(zeros(1, 768, 12, 12));
        var wide = zeros(1536, 768, 1, 1);
        Assert.Equal(ConvStrategy.PointwiseAsMatmul, On(stage3At192, wide, amx: true));
        Assert.Equal(ConvStrategy.Native, On(stage3At192, wide, amx: false));                   // MKL at half rate elsewhere
        Assert.Equal(ConvStrategy.ChannelsLast, On(zeros(1, 768, 12, 12), wide, amx: true));   // channels-first in: a copy each way
        var stage1At192 = LayoutConversion.ToChannelsLast(zeros(1, 256, 48, 48));
        Assert.Equal(ConvStrategy.ChannelsLast, On(stage1At192, zeros(128, 256, 1, 1), amx: true)); // 128 outputs: no faster
        Assert.Equal(ConvStrategy.PointwiseAsMatmul, On(stage1At192, zeros(256, 256, 1, 1), amx: true));
        var bf16 = LayoutConversion.ToChannelsLast(zeros(1, 768, 12, 12, dtype: ScalarType.BFloat16));
        Assert.Equal(ConvStrategy.ChannelsLast, On(bf16, wide.to(ScalarType.BFloat16), amx: true)); // bf16: the convolution is faster
    }

    [Fact]
    public void AmxDetectionAgreesWithTheKernelsCpuFlags()
    {
        // An independent reading of the same CPUID bits: Linux lists amx_bf16 and amx_tile among a processor's flags.
        var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal)).Split(' ');
        Assert.Equal(flags.Contains("amx_bf16") && flags.Contains("amx_tile"), CpuFeatures.HasAmxBf16);
        Assert.Equal(CpuFeatures.HasAmxBf16 && !PlatformSwitches.DisableChannelsLast.IsOn, ChannelsLastConvolution.PreferredHere);
    }

    [Fact]
    public void ToChannelsLastKeepsTheValuesAndCopiesOnlyWhenNeeded()
    {
        using var scope = NewDisposeScope();
        var x = Scalars.Arange(2 * 3 * 4 * 5, ScalarType.Float32).reshape(2, 3, 4, 5);
        Assert.False(ChannelsLastConvolution.IsChannelsLast(x));
        var cl = LayoutConversion.ToChannelsLast(x);
        Assert.True(ChannelsLastConvolution.IsChannelsLast(cl));
        Assert.Equal(new long[] { 60, 1, 15, 3 }, cl.stride());
        Assert.True(cl.equal(x).all().ReadBoolean());
        var again = LayoutConversion.ToChannelsLast(cl);
        Assert.Equal(TorchSharpInternals.DataPointer(cl), TorchSharpInternals.DataPointer(again)); // no second copy
        Assert.False(ChannelsLastConvolution.IsChannelsLast(x.permute(0, 2, 3, 1)));              // not a 4-D NCHW view
        Assert.False(ChannelsLastConvolution.IsChannelsLast(cl[TensorIndex.Colon, TensorIndex.Slice(0, 2)])); // not dense
    }

    public static TheoryData<long, long, long, int, long[], int, ScalarType> Shapes => new()
    {
        // in, out, kernel, map, stride, groups, dtype: F0's kinds of convolution at small widths
        { 64, 128, 1, 12, One, 1, ScalarType.BFloat16 },
        { 128, 128, 3, 10, One, 2, ScalarType.BFloat16 },   // 64 per group
        { 64, 64, 3, 17, Two, 1, ScalarType.BFloat16 },     // a stride-2 3×3 on an odd map (padded as SAME pads it)
        { 64, 128, 1, 12, One, 1, ScalarType.Float32 },
        { 128, 128, 3, 10, One, 2, ScalarType.Float32 },
        { 64, 64, 3, 17, Two, 1, ScalarType.Float32 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ComputesTheFloat64ConvolutionWithEveryGradientAndAChannelsLastResult(long cin, long cout, long k, int map, long[] stride, int groups, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        manual_seed(cin + cout + map);
        var padding = k == 1 ? Zero : One;
        var x64 = randn(new long[] { 2, cin, map, map }, ScalarType.Float64);
        var w64 = randn(new long[] { cout, cin / groups, k, k }, ScalarType.Float64).DividedByInPlace(Math.Sqrt(cin / groups * k * k));
        var b64 = randn(new long[] { cout }, ScalarType.Float64);
        // The reference: libtorch's float64 convolution (not oneDNN's) of the values the dtype holds.
        Tensor Leaf(Tensor t, ScalarType type) => t.to(dtype).to(type).requires_grad_();
        var (xr, wr, br) = (Leaf(x64, ScalarType.Float64), Leaf(w64, ScalarType.Float64), Leaf(b64, ScalarType.Float64));
        var yr = nn.functional.conv2d(xr, wr, br, strides: stride, padding: padding, groups: groups);
        var gy = randn_like(yr).to(dtype);
        yr.backward(new[] { gy.to(ScalarType.Float64) });

        var (x, w, b) = (Leaf(x64, dtype), Leaf(w64, dtype), Leaf(b64, dtype));
        var y = ChannelsLastConvolution.Conv2d(x, w, b, stride, padding, One, groups);
        Assert.True(ChannelsLastConvolution.IsChannelsLast(y), "the result keeps the channels-last layout");
        y.backward(new[] { gy });
        Assert.True(x.grad!.is_contiguous(), "the input's gradient comes back in the input's layout");
        // bf16: rounding of the result (2^-8); float32: sums of up to 1152 products (about 1e-6). A wrong kernel is off
        // by order 1.
        var tolerance = dtype == ScalarType.BFloat16 ? 2e-2 : 1e-5;
        Assert.True(Relative(y, yr) < tolerance, $"forward off by {Relative(y, yr):E2}");
        Assert.True(Relative(x.grad!, xr.grad!) < tolerance, $"input gradient off by {Relative(x.grad!, xr.grad!):E2}");
        Assert.True(Relative(w.grad!, wr.grad!) < tolerance, $"weight gradient off by {Relative(w.grad!, wr.grad!):E2}");
        Assert.True(Relative(b.grad!, br.grad!) < tolerance, $"bias gradient off by {Relative(b.grad!, br.grad!):E2}");
    }

    [Fact]
    public void ANarrowConvolutionGivenAChannelsLastInputIsStillTheFloat64Convolution()
    {
        // A channels-last activation reaching a narrow layer runs in the channels-first layout its probe verified.
        using var scope = NewDisposeScope();
        manual_seed(11);
        var x64 = randn(new long[] { 2, 24, 12, 12 }, ScalarType.Float64);
        var w64 = randn(new long[] { 40, 24, 3, 3 }, ScalarType.Float64).DividedByInPlace(Math.Sqrt(24 * 9));
        var reference = nn.functional.conv2d(x64.to(ScalarType.BFloat16).to(ScalarType.Float64), w64.to(ScalarType.BFloat16).to(ScalarType.Float64), padding: One);
        var x = LayoutConversion.ToChannelsLast(x64.to(ScalarType.BFloat16));
        Assert.Equal(ConvStrategy.NarrowChannelVerified, ConvolutionBackend.StrategyFor(x, w64, One, One, 1));
        var y = ConvolutionBackend.Conv2d(x, w64.to(ScalarType.BFloat16), null, One, One, One, 1);
        Assert.True(Relative(y, reference) < 2e-2, $"off by {Relative(y, reference):E2}");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 5e-2, 8e-2)]
    [InlineData(ScalarType.Float32, 1e-4, 1e-4)]
    public void AnNFNetIsTheFloat64NetworkAndKeepsChannelsLastWhereTheRuleSays(ScalarType dtype, double logitTolerance, double gradientTolerance)
    {
        // Widths of 128 and group width 64 (trusted), 64 px input: stage 0 runs on 16×16 maps, stage 1 from 16×16 to 8×8.
        var config = NFNetVariants.F0 with
        {
            Name = "channels-last",
            Widths = new[] { 128, 128, 128, 128 },
            Depths = new[] { 1, 1, 1, 1 },
            StemWidth = 64,
            GroupWidth = 64,
            NumClasses = 10,
            DropRate = 0,
            StochasticDepthRate = 0,   // no randomness
        };
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var model = new NFNet(config);
        using (no_grad())
        {
            foreach (var block in model.Blocks) block.SkipInitGain!.FillInPlace(0.5);   // let every branch count
            foreach (var conv in model.modules().OfType<ScaledWSConv2d>()) conv.Bias!.uniform_(-0.2, 0.2);
        }
        model.train();
        model.to(dtype);
        using var reference = new NFNet(config);
        reference.load_state_dict(model.state_dict());   // the same values, computed in float64
        reference.to(ScalarType.Float64);
        reference.train();

        var layouts = new Dictionary<string, bool>();
        foreach (var block in model.Blocks)
            ((nn.Module<Tensor, Tensor>)block).register_forward_hook((_, _, output) =>
            {
                layouts[block.BlockName] = ChannelsLastConvolution.IsChannelsLast(output);
                return output;
            });
        var images = randn(2, 3, 64, 64).to(dtype);
        var y = model.forward(images);
        var yr = reference.forward(images.to(ScalarType.Float64));
        var gy = randn_like(yr);
        y.backward(new[] { gy.to(dtype) });
        yr.backward(new[] { gy });

        // On an AMX CPU stage 0's block (16×16) is channels-last, and stage 2's (4×4, after the 8×8 products) is not.
        Assert.Equal(ChannelsLastConvolution.PreferredHere, layouts[model.Blocks[0].BlockName]);
        Assert.False(layouts[model.Blocks[2].BlockName]);
        Assert.True(Relative(y, yr) < logitTolerance, $"logits off by {Relative(y, yr):E2}");
        var grads = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var name in new[] { "stem.conv1.weight", "stages.0.0.conv2.weight", "stages.1.0.conv1.weight", "stages.0.0.skipinit_gain" })
        {
            var g = model.named_parameters().Single(p => p.name == name).parameter.grad!;
            Assert.True(Relative(g, grads[name]) < gradientTolerance, $"{name}'s gradient off by {Relative(g, grads[name]):E2}");
        }
    }
}
