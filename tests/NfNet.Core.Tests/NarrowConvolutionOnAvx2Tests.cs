using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>The AVX2 rule of the narrow convolutions (float32 on CPUs without AVX-512: channels-last inputs, unfold +
/// product for one to four input channels): where it applies on either class of CPU, that each of its paths computes
/// the float64 convolution with every gradient, that GELU keeps the layout, and that the demo's network is still the
/// float64 network.</summary>
public sealed class NarrowConvolutionOnAvx2Tests
{
    private static readonly long[] One = { 1, 1 }, Two = { 2, 2 }, Zero = { 0, 0 };
    private const NarrowChannelConvolution.ConvPath Native = NarrowChannelConvolution.ConvPath.Native;
    private const NarrowChannelConvolution.ConvPath NativeCl = NarrowChannelConvolution.ConvPath.NativeChannelsLast;
    private const NarrowChannelConvolution.ConvPath Padded = NarrowChannelConvolution.ConvPath.ZeroPadded;
    private const NarrowChannelConvolution.ConvPath PaddedCl = NarrowChannelConvolution.ConvPath.ZeroPaddedChannelsLast;
    private const NarrowChannelConvolution.ConvPath Product = NarrowChannelConvolution.ConvPath.MatrixProduct;
    private const NarrowChannelConvolution.ConvPath Shifted = NarrowChannelConvolution.ConvPath.ShiftedSum;

    private static double Relative(Tensor approx, Tensor exact) => NarrowConvTests.Relative(approx, exact);

    public static TheoryData<long, long, long, long, string, string> Rules => new()
    {
        // in and out per group, groups, output pixels → the paths a probe tries on the AVX2 class in float32, and elsewhere
        { 16, 32, 1, 256, Names(NativeCl, Native), Names(Native) },            // the demo stem's third convolution
        { 16, 16, 3, 4, Names(NativeCl, Native), Names(Native) },              // a grouped 3×3 on a 2×2 map
        { 16, 16, 4, 1, Names(Native), Names(Native) },                        // on one pixel: as fast channels-first
        { 8, 16, 1, 256, Names(PaddedCl, Padded), Names(Padded) },             // the stem's second: padded to 16 → 16
        { 24, 40, 1, 16, Names(PaddedCl, Padded), Names(Padded) },
        { 24, 40, 1, 1, Names(Padded), Names(Padded) },
        { 1, 8, 1, 256, Names(Product), Names(Padded) },                       // the stem's first: 1 → 8
        { 3, 16, 1, 256, Names(Product), Names(Padded) },                      // an RGB stem
        { 5, 16, 1, 256, Names(PaddedCl, Padded), Names(Padded) },
        { 1, 1, 32, 64, Names(Shifted), Names(Shifted) },                      // depthwise
        { 8, 8, 2, 64, "", "" }, // narrow groups: the product
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void OnAvx2Float32NarrowConvolutionsTryChannelsLastFirstAndElsewhereKeepChannelsFirst(long inPerGroup, long outPerGroup, long groups,
        long outputPixels, string onAvx2, string elsewhere)
    {
        Assert.Equal(onAvx2, Names(NarrowChannelConvolution.Candidates(inPerGroup, outPerGroup, groups, outputPixels, avx2Float32: true).ToArray()));
        Assert.Equal(elsewhere, Names(NarrowChannelConvolution.Candidates(inPerGroup, outPerGroup, groups, outputPixels, avx2Float32: false).ToArray()));
    }

    private static string Names(params NarrowChannelConvolution.ConvPath[] paths) => string.Join(", ", paths);

    [Fact]
    public void TheAvx2ClassIsReadFromTheSameCpuidBitsLinuxLists()
    {
        // Linux lists avx2 and avx512f among a processor's flags, from the same CPUID leaves oneDNN reads.
        var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal)).Split(' ');
        Assert.Equal(flags.Contains("avx2") && !flags.Contains("avx512f"), CpuFeatures.IsAvx2Class);
        Assert.Equal(CpuFeatures.IsAvx2Class && ChannelsLastConvolution.Enabled, NarrowChannelConvolution.Avx2Float32(ScalarType.Float32));
        Assert.False(NarrowChannelConvolution.Avx2Float32(ScalarType.BFloat16));
        Assert.False(NarrowChannelConvolution.Avx2Float32(ScalarType.Float64));
    }

    public static TheoryData<string, long, long, long, int, long[], int, bool> Paths => new()
    {
        // path, in, out, kernel, map, stride, groups, channels-last input
        { nameof(NativeCl), 16, 32, 3, 16, One, 1, false },
        { nameof(NativeCl), 32, 64, 3, 17, Two, 1, true },       // the stem's last convolution on its SAME-padded input
        { nameof(NativeCl), 48, 48, 3, 2, One, 3, true },        // grouped, 2×2
        { nameof(NativeCl), 64, 16, 1, 8, One, 1, false },       // 1×1
        { nameof(PaddedCl), 8, 16, 3, 16, One, 1, false },
        { nameof(PaddedCl), 24, 40, 3, 6, One, 1, true },        // padded on both sides, the output narrowed
        { nameof(Product), 1, 8, 3, 33, Two, 1, false },
        { nameof(Product), 3, 16, 3, 12, One, 1, true },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void EachPathComputesTheFloat64ConvolutionWithEveryGradientInTheInputsLayout(string pathName, long cin, long cout,
        long k, int map, long[] stride, int groups, bool channelsLastInput)
    {
        var path = pathName switch { nameof(NativeCl) => NativeCl, nameof(PaddedCl) => PaddedCl, _ => Product };
        using var scope = NewDisposeScope();
        manual_seed(cin * 7 + cout + map);
        var padding = k == 1 || stride[0] == 2 ? Zero : One;
        var x64 = randn(new long[] { 3, cin, map, map }, ScalarType.Float64);
        var w64 = randn(new long[] { cout, cin / groups, k, k }, ScalarType.Float64).DividedByInPlace(Math.Sqrt(cin / groups * k * k));
        var b64 = randn(new long[] { cout }, ScalarType.Float64);
        // The reference: libtorch's float64 convolution (not oneDNN's) of the values float32 holds.
        Tensor Leaf(Tensor t, ScalarType type) => t.to(ScalarType.Float32).to(type).requires_grad_();
        var (xr, wr, br) = (Leaf(x64, ScalarType.Float64), Leaf(w64, ScalarType.Float64), Leaf(b64, ScalarType.Float64));
        var yr = nn.functional.conv2d(xr, wr, br, strides: stride, padding: padding, groups: groups);
        var gy = randn_like(yr).to(ScalarType.Float32);
        yr.backward(new[] { gy.to(ScalarType.Float64) });

        var x = channelsLastInput ? LayoutConversion.ToChannelsLast(x64.to(ScalarType.Float32)).requires_grad_() : Leaf(x64, ScalarType.Float32);
        var (w, b) = (Leaf(w64, ScalarType.Float32), Leaf(b64, ScalarType.Float32));
        var y = NarrowChannelConvolution.Run(path, x, w, b, stride, padding, One, groups);
        if (path is NativeCl or PaddedCl && cout % 16 == 0)
            Assert.True(ChannelsLastConvolution.IsChannelsLast(y), "the result is channels-last, for the layers after it");
        y.backward(new[] { gy });
        Assert.Equal(channelsLastInput, ChannelsLastConvolution.IsChannelsLast(x.grad!));
        // Sums of up to 432 float32 products: about 1e-6. A wrong kernel is off by order 1.
        Assert.True(Relative(y, yr) < 1e-5, $"forward off by {Relative(y, yr):E2}");
        Assert.True(Relative(x.grad!, xr.grad!) < 1e-5, $"input gradient off by {Relative(x.grad!, xr.grad!):E2}");
        Assert.True(Relative(w.grad!, wr.grad!) < 1e-5, $"weight gradient off by {Relative(w.grad!, wr.grad!):E2}");
        Assert.True(Relative(b.grad!, br.grad!) < 1e-5, $"bias gradient off by {Relative(b.grad!, br.grad!):E2}");
    }

    [Fact]
    public void GeluOnAChannelsLastActivationIsTheSameGeluAndKeepsTheLayout()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var dense = randn(4, 16, 6, 6).mul(tensor(3f)).requires_grad_();
        var cl = LayoutConversion.ToChannelsLast(dense.detach()).requires_grad_();
        var y = ScaledActivation.Apply(ActivationKind.Gelu, dense);
        var ycl = ScaledActivation.Apply(ActivationKind.Gelu, cl);
        Assert.True(ChannelsLastConvolution.IsChannelsLast(ycl));
        Assert.True(ycl.equal(y).all().item<bool>(), "the same kernel gives the same bits");
        // GELU(x) = x·Φ(x) at three points by hand (Φ from erf): 1 → 0.841345, -1 → -0.158655, 2 → 1.954500.
        var points = LayoutConversion.ToChannelsLast(tensor(new[] { 1f, -1f, 2f, 0f }).reshape(1, 4, 1, 1).expand(2, 4, 2, 2).contiguous());
        var g = ScaledActivation.Apply(ActivationKind.Gelu, points);
        Assert.Equal(0.841345f, g[0, 0, 1, 1].item<float>(), 5e-6f);
        Assert.Equal(-0.158655f, g[1, 1, 0, 1].item<float>(), 5e-6f);
        Assert.Equal(1.954500f, g[0, 2, 1, 0].item<float>(), 5e-6f);
        var gy = randn_like(y);
        y.backward(new[] { gy });
        ycl.backward(new[] { gy });
        Assert.True(Relative(cl.grad!, dense.grad!.to(ScalarType.Float64)) < 1e-6, "the same gradient");
        Assert.True(ChannelsLastConvolution.IsChannelsLast(cl.grad!));
    }

    [Fact]
    public void TheDemoNetworkInFloat32IsTheFloat64NetworkAndIsChannelsLastWhereTheRuleSays()
    {
        using var scope = NewDisposeScope();
        manual_seed(9);
        // The demo's network (FashionMnistRecipe.Model(32), in NfNet.Training): 1 → 8 → 16 → 32 → 64 stem, widths 32–128.
        var config = new NFNetConfig
        {
            Name = "demo",
            Widths = new[] { 32, 64, 96, 128 },
            Depths = new[] { 1, 2, 3, 2 },
            StemWidth = 64,
            GroupWidth = 16,
            InChannels = 1,
            NumClasses = 10,
            DropRate = 0,
            StochasticDepthRate = 0,
            StandardizationEps = 1e-5,
        };
        using var model = new NFNet(config);
        using (no_grad())
        {
            foreach (var block in model.Blocks) block.SkipInitGain!.FillInPlace(0.5);   // let every branch count
            foreach (var conv in model.modules().OfType<ScaledWSConv2d>()) conv.Bias!.uniform_(-0.2, 0.2);
        }
        model.train();
        using var reference = new NFNet(config);
        reference.load_state_dict(model.state_dict());
        reference.to(ScalarType.Float64);
        reference.train();
        var stemLayout = false;
        ((nn.Module<Tensor, Tensor>)model.Blocks[0]).register_forward_pre_hook((_, input) =>
        {
            stemLayout = ChannelsLastConvolution.IsChannelsLast(input);
            return input;
        });

        var images = randn(6, 1, 32, 32);
        var y = model.forward(images);
        var yr = reference.forward(images.to(ScalarType.Float64));
        var gy = randn_like(yr);
        y.backward(new[] { gy.to(ScalarType.Float32) });
        yr.backward(new[] { gy });

        // The stem's last convolution (32 → 64 at stride 2, 8×8 out) hands the first block a channels-last map on the
        // AVX2 class, a channels-first one elsewhere.
        Assert.Equal(NarrowChannelConvolution.Avx2Float32(ScalarType.Float32), stemLayout);
        Assert.True(Relative(y, yr) < 1e-4, $"logits off by {Relative(y, yr):E2}");
        var grads = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var (name, parameter) in model.named_parameters().Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal)))
            Assert.True(Relative(parameter.grad!, grads[name]) < 1e-4, $"{name}'s gradient off by {Relative(parameter.grad!, grads[name]):E2}");
    }
}
