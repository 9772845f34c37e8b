using NfNet.Platform;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>How the head pools the last feature map before the classifier (timm's <c>global_pool</c>).</summary>
public enum GlobalPool
{
    /// <summary>Mean over H and W (timm's <c>avg</c>; the default).</summary>
    Avg,
    /// <summary>Maximum over H and W (timm's <c>max</c>).</summary>
    Max,
    /// <summary>The mean of the average and the maximum (timm's <c>avgmax</c>).</summary>
    AvgMax,
    /// <summary>The average and the maximum side by side: twice the features (timm's <c>catavgmax</c>).</summary>
    CatAvgMax,
    /// <summary>No pooling: the head returns the feature map; only without a classifier (timm's empty name).</summary>
    None,
}

/// <summary>timm's names of the global pools and what each one computes.</summary>
public static class GlobalPools
{
    /// <summary>The pool timm calls <paramref name="name"/>: <c>avg</c>, <c>max</c>, <c>avgmax</c>, <c>catavgmax</c>, or
    /// empty for none (case-insensitive).</summary>
    /// <exception cref="ArgumentException">Another name.</exception>
    public static GlobalPool Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "avg" => GlobalPool.Avg,
            "max" => GlobalPool.Max,
            "avgmax" => GlobalPool.AvgMax,
            "catavgmax" => GlobalPool.CatAvgMax,
            "" or "none" => GlobalPool.None,
            _ => throw new ArgumentException($"unknown global pool '{name}'; timm's are avg, max, avgmax, catavgmax and '' (none)", nameof(name)),
        };
    }

    /// <summary>The classifier's input width for <paramref name="features"/> channels: doubled by <see cref="GlobalPool.CatAvgMax"/>.</summary>
    public static long PooledWidth(this GlobalPool pool, long features) => pool == GlobalPool.CatAvgMax ? 2 * features : features;

    /// <summary>Pools [N, C, H, W] to [N, C] (or [N, 2C]; the map itself for <see cref="GlobalPool.None"/>).</summary>
    public static Tensor Apply(this GlobalPool pool, Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        using var scope = NewDisposeScope();
        var dims = new long[] { 2, 3 };
        var pooled = pool switch
        {
            GlobalPool.Avg => features.mean(dims),
            GlobalPool.Max => features.amax(dims),
            GlobalPool.AvgMax => features.mean(dims).Plus(features.amax(dims)).Times(0.5),
            GlobalPool.CatAvgMax => cat(new[] { features.mean(dims), features.amax(dims) }, 1),
            GlobalPool.None => features.alias(),
            _ => throw new ArgumentOutOfRangeException(nameof(pool), pool, "unknown global pool"),
        };
        return pooled.MoveToOuterDisposeScope();
    }
}
