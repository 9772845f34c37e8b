using System.Runtime.InteropServices;

namespace NfNet.Testing;

/// <summary>glibc's own account of its heap (<c>mallinfo2</c>), for tests that observe native memory where it is kept,
/// not in the library's bookkeeping.</summary>
internal static class GlibcHeap
{
    [StructLayout(LayoutKind.Sequential)]
    public struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc.so.6", ExactSpelling = true, EntryPoint = "mallinfo2")]
    private static extern MallInfo2 MallInfo();

    /// <summary>The current figures, summed over all arenas.</summary>
    public static MallInfo2 Now() => MallInfo();

    /// <summary>Bytes in use in glibc's arenas (allocated and not yet freed; blocks glibc mapped on their own excluded).</summary>
    public static long InUse => (long)MallInfo().Uordblks;
}
