using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>How <see cref="ConvolutionBackend"/> computes one convolution.</summary>
internal enum ConvStrategy
{
    /// <summary>libtorch's own <c>conv2d</c>: off the CPU, in float64, with the workarounds off, or where a probe
    /// found it right.</summary>
    Native,
    /// <summary>A narrow-channel CPU convolution through the path verified against float64 for its shape
    /// (<see cref="NarrowChannelConvolution"/>).</summary>
    NarrowChannelVerified,
    /// <summary>A strided 1×1 convolution without padding as a subsample and a stride-1 convolution (avoids a libtorch
    /// crash; fewer multiply-adds).</summary>
    Strided1x1,
    /// <summary>A bf16 1×1 convolution on a small map, or a float32 one on a single pixel (on AMX CPUs: on a small map,
    /// or on a larger channels-last one with at least 256 outputs), as a matrix product (<see cref="PointwiseConvAsMatmul"/>;
    /// speed).</summary>
    PointwiseAsMatmul,
    /// <summary>libtorch's own <c>conv2d</c> on a channels-last input: wide bf16 and float32 convolutions above the
    /// pointwise limit on a CPU with AMX (<see cref="ChannelsLastConvolution"/>; speed).</summary>
    ChannelsLast,
}

/// <summary>
/// The one door through which every convolution of NfNet.NET's layers (<c>ScaledWSConv2d</c>, <c>GuardedConv2d</c>,
/// Squeeze-Excite) reaches libtorch, so that the platform workarounds live in one place and can be switched off.
/// </summary>
/// <remarks>
/// <para>Measured on libtorch 2.10.0 as TorchSharp 0.107.0 ships it (package <c>libtorch-cpu-linux-x64</c> 2.10.0, oneDNN
/// inside), on a 2-core AMD EPYC with AVX-512 and AVX-512-BF16 under Debian 12 (README, "Known platform issues"):</para>
/// <list type="bullet">
/// <item>narrow per-group channel counts (not multiples of 16, and some multiples below 64) give wrong results,
/// intermittently, in float32 and bf16 (related upstream: pytorch/pytorch#163347) → <see cref="ConvStrategy.NarrowChannelVerified"/>;</item>
/// <item>the backward pass of some strided 1×1 convolutions dies with SIGFPE (512 → 1024 at stride 2 on 8×8, float32)
/// → <see cref="ConvStrategy.Strided1x1"/>;</item>
/// <item>bf16 1×1 convolutions on maps of at most 8×8 run at 0.65–1.0 of the rate of the same matrix product (from 9×9
/// up the convolution is the faster), and
/// float32 ones on a single pixel (the Squeeze-Excite FCs) at about 60 % → <see cref="ConvStrategy.PointwiseAsMatmul"/>;</item>
/// <item>and on a 2-core Intel Xeon with AMX (Emerald Rapids), convolutions above 8×8 run up to 3.7× faster (bf16) and
/// 1.45× (float32) on a channels-last input, which oneDNN's AMX kernels read without reordering →
/// <see cref="ConvStrategy.ChannelsLast"/> (its own switch: <see cref="PlatformSwitches.DisableChannelsLast"/>), while
/// float32 1×1 convolutions up to 8×8 run faster as MKL's product there, and so do larger channels-last ones with at
/// least 256 outputs (0.91–0.97 of the time) → <see cref="ConvStrategy.PointwiseAsMatmul"/>;</item>
/// <item>and on a 2-core AMD EPYC with AVX2 only, narrow float32 convolutions run 1.2–2.7× faster on a channels-last
/// input (the narrow strategy's own rule, <see cref="NarrowChannelConvolution.Candidates"/>), while wide ones are no
/// faster, so <see cref="ConvStrategy.Native"/> takes a channels-last input back channels-first there.</item>
/// </list>
/// <para>Before any strategy, a kernel centred on a single pixel is replaced by its centre tap
/// (<see cref="ReadsOnlyTheCentreTap"/>): the same convolution.</para>
/// <para>Switch them all off with the <c>AppContext</c> switch <see cref="DisableSwitch"/> (in code, or
/// <c>&lt;RuntimeHostConfigurationOption&gt;</c> in a project) or the environment variable <see cref="DisableVariable"/>=1,
/// read once per process: on a libtorch build without the defects, or to measure them. Every convolution then runs
/// natively.</para>
/// </remarks>
internal static class ConvolutionBackend
{
    /// <summary>The <c>AppContext</c> switch that turns every workaround off.</summary>
    public static string DisableSwitch => PlatformSwitches.DisableConvolutionWorkarounds.AppContextName;
    /// <summary>The environment variable that turns every workaround off when set to <c>1</c> or <c>true</c>.</summary>
    public static string DisableVariable => PlatformSwitches.DisableConvolutionWorkarounds.EnvironmentVariable;

    private static readonly long[] UnitStride = { 1, 1 };
    private static readonly long[] NoPadding = { 0, 0 };
    private static readonly Lazy<bool> Enabled = new(ReadSwitches);

    /// <summary>Whether the workarounds are on in this process (read once, at the first convolution).</summary>
    public static bool WorkaroundsEnabled => Enabled.Value;

    /// <summary><c>conv2d</c> through the strategy this convolution takes (<see cref="StrategyFor(Tensor, Tensor, long[], long[], long)"/>).</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        if (!ReadsOnlyTheCentreTap(input, weight, padding, dilation)) return Dispatch(input, weight, bias, stride, padding, dilation, groups);
        using var row = weight.narrow(2, weight.size(2) / 2, 1);
        using var centre = row.narrow(3, weight.size(3) / 2, 1);
        return Dispatch(input, centre, bias, UnitStride, NoPadding, UnitStride, groups);
    }

    /// <summary>Whether a CPU convolution's input is a single pixel that its padding centres under the kernel (an odd
    /// k×k kernel, padding (k − 1) / 2, no dilation): the other taps read only the zero padding, so the convolution is the
    /// 1×1 convolution with the centre tap, the same sums without the zero terms, and the other taps' gradient is zero
    /// either way. The deepest stage of a network on small images (the demo's 32 px: stage 4 runs on 1×1 maps) takes
    /// 1/k² of the work, and a 1×1 kernel's paths (<see cref="PointwiseConvAsMatmul"/>).</summary>
    internal static bool ReadsOnlyTheCentreTap(Tensor input, Tensor weight, long[] padding, long[] dilation) =>
        WorkaroundsEnabled && input.device_type == DeviceType.CPU && input.dim() == 4 && input.size(2) == 1 && input.size(3) == 1 &&
        (weight.size(2) > 1 || weight.size(3) > 1) && weight.size(2) % 2 == 1 && weight.size(3) % 2 == 1 &&
        padding[0] == weight.size(2) / 2 && padding[1] == weight.size(3) / 2 && dilation[0] == 1 && dilation[1] == 1;

    private static Tensor Dispatch(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups) =>
        StrategyFor(input, weight, stride, padding, dilation, groups, CpuFeatures.HasAmxBf16) switch
        {
            ConvStrategy.Strided1x1 => Strided1x1(input, weight, bias, stride, padding, dilation, groups),
            ConvStrategy.PointwiseAsMatmul => PointwiseConvAsMatmul.Conv2d(input, weight, bias),
            ConvStrategy.ChannelsLast => ChannelsLastConvolution.Conv2d(input, weight, bias, stride, padding, dilation, groups),
            ConvStrategy.NarrowChannelVerified => NarrowChannelConvolution.Conv2d(input, weight, bias, stride, padding, dilation, groups),
            _ => Native(input, weight, bias, stride, padding, dilation, groups),
        };

    // On the AVX2 class a float32 activation is channels-last after a narrow layer that took that layout
    // (NarrowChannelConvolution.Candidates: the stem of every NFNet). Wide convolutions take it back channels-first, once,
    // and run on the blocked kernels their rule was measured with: F0's step did not gain from the stem's layout flowing
    // through its stages (benchmarks/README.md, "Narrow convolutions on AVX2"). On one pixel the two layouts are the same
    // tensor, and no copy is made.
    private static Tensor Native(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        if (input.is_contiguous() || input.device_type != DeviceType.CPU || !NarrowChannelConvolution.Avx2Float32(input.dtype))
            return nn.functional.conv2d(input, weight, bias, strides: stride, padding: padding, dilation: dilation, groups: groups);
        using var dense = LayoutConversion.ToChannelsFirst(input);
        return nn.functional.conv2d(dense, weight, bias, strides: stride, padding: padding, dilation: dilation, groups: groups);
    }

    /// <summary>The strategy for an undilated convolution of <paramref name="input"/> with <paramref name="weight"/> on this CPU.</summary>
    public static ConvStrategy StrategyFor(Tensor input, Tensor weight, long[] stride, long[] padding, long groups) =>
        StrategyFor(input, weight, stride, padding, UnitStride, groups, CpuFeatures.HasAmxBf16);

    /// <summary>The strategy on an Intel CPU with AMX (<paramref name="amx"/>) or another one: the rule in full, whatever
    /// this machine is. Where the two differ was measured on one machine of each kind (benchmarks/README.md).</summary>
    internal static ConvStrategy StrategyFor(Tensor input, Tensor weight, long[] stride, long[] padding, long[] dilation, long groups,
        bool amx)
    {
        if (!WorkaroundsEnabled || input.device_type != DeviceType.CPU) return ConvStrategy.Native;
        if (weight.size(2) == 1 && weight.size(3) == 1 && (stride[0] != 1 || stride[1] != 1) && padding[0] == 0 && padding[1] == 0)
            return ConvStrategy.Strided1x1;
        if (PointwiseConvAsMatmul.Applies(input, weight, stride, padding, groups, amx)) return ConvStrategy.PointwiseAsMatmul;
        if (NarrowChannelConvolution.NeedsVerification(input, weight, groups)) return ConvStrategy.NarrowChannelVerified;
        return ChannelsLastConvolution.Applies(input, weight, stride, padding, dilation, groups, amx && ChannelsLastConvolution.Enabled)
            ? ConvStrategy.ChannelsLast : ConvStrategy.Native;
    }


    // A strided 1×1 convolution without padding reads only every s-th pixel: subsample first, then convolve at stride 1.
    private static Tensor Strided1x1(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups)
    {
        using var sub = input[TensorIndex.Ellipsis, TensorIndex.Slice(null, null, stride[0]), TensorIndex.Slice(null, null, stride[1])];
        return Conv2d(sub, weight, bias, UnitStride, padding, dilation, groups);
    }

    private static bool ReadSwitches() => !PlatformSwitches.DisableConvolutionWorkarounds.IsOn;
}
