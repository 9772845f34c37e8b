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

    // CPUID leaf 7, sub-leaf 1, EAX: bit 5 AVX512_BF16.
    private const int Avx512Bf16Bit = 5;

    // CPUID leaf 7, sub-leaf 0, EBX: bit 16 AVX512F.
    private const int Avx512FBit = 16;

    private static readonly Lazy<bool> s_amxBf16 = new(ReadAmxBf16);
    private static readonly Lazy<bool> s_avx512Bf16 = new(ReadAvx512Bf16);
    private static readonly Lazy<string> s_model = new(ReadModelName);
    private static readonly Lazy<bool> s_avx2Class = new(ReadAvx2Class);

    /// <summary>Whether the processor has AVX512_BF16 (bf16 dot products and conversions in 512-bit registers) and the
    /// operating system lets processes use AVX-512 (.NET's <c>Avx512F.IsSupported</c>, which also honours
    /// <c>DOTNET_EnableAVX512=0</c>).</summary>
    public static bool HasAvx512Bf16 => s_avx512Bf16.Value;

    /// <summary>What makes bf16 native on this CPU (<c>AMX-BF16</c>, <c>AVX512_BF16</c>), or null where libtorch's oneDNN
    /// emulates it.</summary>
    public static string? NativeBf16 => HasAmxBf16 ? "AMX-BF16" : HasAvx512Bf16 ? "AVX512_BF16" : null;

    /// <summary>The processor's model and the instruction sets that choose libtorch's kernels, for logs and benchmark
    /// records: e.g. <c>AMD EPYC 7B13: AVX2, no AVX-512, no native bf16</c>.</summary>
    public static string Describe()
    {
        var sets = new List<string>();
        if (Avx2.IsSupported) sets.Add("AVX2");
        sets.Add(Avx512F.IsSupported ? "AVX-512" : "no AVX-512");
        if (HasAvx512Bf16) sets.Add("AVX512_BF16");
        if (HasAmxBf16) sets.Add("AMX-BF16");
        if (NativeBf16 is null) sets.Add("no native bf16");
        return $"{s_model.Value}: {string.Join(", ", sets)}";
    }

    /// <summary>Whether oneDNN runs this processor's float32 convolutions with its AVX2 kernels: AVX2 and no AVX512F in
    /// CPUID (AMD Zen 1–3, Intel client cores, most laptops). Read from CPUID rather than from .NET's
    /// <c>Avx512F.IsSupported</c>, because oneDNN reads CPUID too: <c>DOTNET_EnableAVX512=0</c> changes .NET's kernels,
    /// not libtorch's.</summary>
    public static bool IsAvx2Class => s_avx2Class.Value;

    /// <summary>Whether the processor has AMX tiles with bf16 products, as oneDNN uses them for bf16 convolutions.
    /// False off x86 and where CPUID's leaf 7 is missing. An operating system that refuses the tiles to a process
    /// makes oneDNN fall back to AVX-512; the choice this drives is then a little slower, never wrong.</summary>
    public static bool HasAmxBf16 => s_amxBf16.Value;

    private static bool ReadAvx512Bf16()
    {
        if (!X86Base.IsSupported || !Avx512F.IsSupported) return false;
        var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        if (maxLeaf < 7) return false;
        var (maxSubLeaf, _, _, _) = X86Base.CpuId(7, 0);
        if (maxSubLeaf < 1) return false;
        var (eax, _, _, _) = X86Base.CpuId(7, 1);
        return (eax >> Avx512Bf16Bit & 1) == 1;
    }

    // The brand string of CPUID leaves 0x80000002-4 ("AMD EPYC 7B13", "Intel(R) Xeon(R) Platinum 8481C").
    private static string ReadModelName()
    {
        if (!X86Base.IsSupported) return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
        var (maxExtended, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
        if ((uint)maxExtended < 0x80000004) return "x86-64";
        var bytes = new List<byte>(48);
        for (var leaf = 0x80000002u; leaf <= 0x80000004u; leaf++)
        {
            var (a, b, c, d) = X86Base.CpuId(unchecked((int)leaf), 0);
            foreach (var r in new[] { a, b, c, d }) bytes.AddRange(BitConverter.GetBytes(r));
        }
        var name = System.Text.Encoding.ASCII.GetString(bytes.ToArray()).TrimEnd('\0').Trim();
        return string.Join(' ', name.Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    private static bool ReadAvx2Class()
    {
        if (!X86Base.IsSupported || !Avx2.IsSupported) return false;
        var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        if (maxLeaf < 7) return true;
        var (_, ebx, _, _) = X86Base.CpuId(7, 0);
        return (ebx >> Avx512FBit & 1) == 0;
    }

    private static bool ReadAmxBf16()
    {
        if (!X86Base.IsSupported) return false;
        var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        if (maxLeaf < 7) return false;
        var (_, _, _, edx) = X86Base.CpuId(7, 0);
        return (edx >> AmxBf16Bit & 1) == 1 && (edx >> AmxTileBit & 1) == 1;
    }
}
