using NfNet.Devices;
using NfNet.Platform;
using Xunit;

namespace NfNet.Tests;

/// <summary>
/// <see cref="PrecisionMode.Auto"/> picks bf16 only where the device computes it natively, says why, and warns when bf16
/// is asked for on a CPU that emulates it. The CPU's features are checked against the kernel's own reading of CPUID
/// (<c>/proc/cpuinfo</c>), an independent reference.
/// </summary>
public sealed class PrecisionChoiceTests
{
    private static string[] CpuInfoFlags() =>
        File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal)).Split(':', 2)[1]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void AutoIsMixedBf16WhereBf16IsNativeAndFloat32Elsewhere()
    {
        var emulated = Precision.ChooseFor(PrecisionMode.Auto, cuda: false, cpuBf16: null);
        Assert.Equal(PrecisionMode.Float32, emulated.Mode);
        Assert.Contains("neither AVX512_BF16 nor AMX-BF16", emulated.Reason);
        Assert.Null(emulated.Warning);
        Assert.Equal(PrecisionMode.MixedBFloat16, Precision.ChooseFor(PrecisionMode.Auto, false, "AVX512_BF16").Mode);
        Assert.Contains("AMX-BF16", Precision.ChooseFor(PrecisionMode.Auto, false, "AMX-BF16").Reason);
        Assert.Equal(PrecisionMode.MixedBFloat16, Precision.ChooseFor(PrecisionMode.Auto, cuda: true, cpuBf16: null).Mode);
    }

    [Theory]
    [InlineData(PrecisionMode.MixedBFloat16, true)]
    [InlineData(PrecisionMode.BFloat16, true)]
    [InlineData(PrecisionMode.Float32, false)]
    public void AnExplicitModeWinsWithAWarningWhenBf16IsEmulated(PrecisionMode asked, bool warns)
    {
        var choice = Precision.ChooseFor(asked, cuda: false, cpuBf16: null);
        Assert.Equal(asked, choice.Mode);
        Assert.Equal(warns, choice.Warning is not null);
        Assert.Null(Precision.ChooseFor(asked, cuda: false, cpuBf16: "AMX-BF16").Warning);
        Assert.Null(Precision.ChooseFor(asked, cuda: true, cpuBf16: null).Warning);
    }

    [Fact]
    public void AutoHasNoDtypeUntilItIsSettled()
    {
        Assert.Throws<ArgumentException>(() => Precision.ComputeType(PrecisionMode.Auto));
        Assert.Throws<ArgumentException>(() => Precision.ParameterType(PrecisionMode.Auto));
        foreach (var mode in Enum.GetValues<PrecisionMode>()) Assert.Equal(mode, Precision.Parse(Precision.Name(mode)));
        Assert.Throws<ArgumentException>(() => Precision.Parse("fp16"));
    }

    [Fact]
    public void TheCpusBf16FeaturesAgreeWithTheKernelsReadingOfCpuid()
    {
        var flags = CpuInfoFlags();
        Assert.Contains("avx2", flags);                                               // the suite's machines all have it
        Assert.Equal(flags.Contains("amx_bf16") && flags.Contains("amx_tile"), CpuFeatures.HasAmxBf16);
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            Assert.Equal(flags.Contains("avx512_bf16"), CpuFeatures.HasAvx512Bf16);
        var native = CpuFeatures.NativeBf16 is not null;
        Assert.Equal(native ? PrecisionMode.MixedBFloat16 : PrecisionMode.Float32, Precision.Choose(PrecisionMode.Auto).Mode);
        var model = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("model name", StringComparison.Ordinal)).Split(':', 2)[1];
        Assert.StartsWith(string.Join(' ', model.Split(' ', StringSplitOptions.RemoveEmptyEntries)) + ":", CpuFeatures.Describe());
    }
}
