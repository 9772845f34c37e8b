using System.Runtime.Intrinsics.X86;

namespace NfNet.Platform;

/// <summary>
/// What the processor offers that changes which of libtorch's CPU kernels are the fast ones, read once from CPUID.
/// </summary>
/// <remarks>
/// libtorch 2.10 ships oneDNN 3.7, which picks its convolution kernels by instruction set. On a CPU with Intel AMX
/// (Advanced Matrix Extensions: Sapphire Rapids and later Xeons) its bf16 convolutions are the <c>brgconv</c>
/// AMX kernels, which read and write activations channels-last (NHWC); on AVX-512-BF16 without AMX (the AMD EPYC
/// the earlier benchmarks ran on) they are the blocked <c>jit</c> kernels. <see cref="ChannelsLastConvolution"/>
/// follows that choice.
/// </remarks>
internal static class CpuFeatures
{
    // CPUID leaf 7, sub-leaf 0, EDX: bit 22 AMX-BF16, bit 24 AMX-TILE (Intel SDM, vol. 2A, "CPUID").
    private const int AmxBf16Bit = 22;
    private const int AmxTileBit = 24;

    private static readonly Lazy<bool> s_amxBf16 = new(ReadAmxBf16);

    /// <summary>Whether the processor has AMX tiles with bf16 products, as oneDNN uses them for bf16 convolutions.
    /// False off x86 and where CPUID's leaf 7 is missing. An operating system that refuses the tiles to a process
    /// makes oneDNN fall back to AVX-512; the choice this drives is then a little slower, never wrong.</summary>
    public static bool HasAmxBf16 => s_amxBf16.Value;

    private static bool ReadAmxBf16()
    {
        if (!X86Base.IsSupported) return false;
        var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        if (maxLeaf < 7) return false;
        var (_, _, _, edx) = X86Base.CpuId(7, 0);
        return (edx >> AmxBf16Bit & 1) == 1 && (edx >> AmxTileBit & 1) == 1;
    }
}
