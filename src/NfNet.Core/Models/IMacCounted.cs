namespace NfNet.Models;

/// <summary>A block that counts its multiply-accumulates for one image and knows its output size.</summary>
public interface IMacCounted
{
    /// <summary>MACs for one image whose input is <paramref name="h"/> × <paramref name="w"/>; returns the output size too.</summary>
    (long Macs, long H, long W) CountMacs(long h, long w);
}

/// <summary>Counting helpers for chains of <see cref="IMacCounted"/> blocks.</summary>
public static class MacCount
{
    /// <summary>The MACs of <paramref name="blocks"/> applied in order to an <paramref name="h"/> × <paramref name="w"/> input,
    /// and the final output size.</summary>
    public static (long Macs, long H, long W) OfChain(IEnumerable<IMacCounted> blocks, long h, long w)
    {
        long macs = 0;
        foreach (var block in blocks)
        {
            var (m, oh, ow) = block.CountMacs(h, w);
            macs += m;
            (h, w) = (oh, ow);
        }
        return (macs, h, w);
    }
}
