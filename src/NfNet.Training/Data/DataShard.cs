namespace NfNet.Training.Data;

/// <summary>
/// Which part of a data set one process of a data-parallel run reads, with torch's <c>DistributedSampler</c> semantics:
/// each epoch's order (a permutation of all samples from the epoch seed, the same on every rank) is padded by
/// repeating its start up to a multiple of <see cref="WorldSize"/>, and rank r takes positions r, r + W, r + 2W, …
/// So every rank has the same number of samples (and steps), and every sample is read exactly once per epoch across
/// ranks, apart from the at most W − 1 repeated to pad. Without <see cref="Pad"/> (evaluation: every sample exactly
/// once, ranks may differ by one sample) rank r takes the positions r, r + W, … below the count.
/// </summary>
/// <param name="Rank">This process's rank, 0 ≤ rank &lt; world size.</param>
/// <param name="WorldSize">Number of processes.</param>
public readonly record struct DataShard(int Rank, int WorldSize)
{
    /// <summary>The whole data set (one process).</summary>
    public static DataShard Single => new(0, 1);

    /// <summary>Pad to equal counts per rank (training, the default); false for evaluation.</summary>
    public bool Pad { get; init; } = true;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">World size below 1 or rank outside [0, world size).</exception>
    public DataShard Validate()
    {
        if (WorldSize < 1) throw new ArgumentOutOfRangeException(nameof(WorldSize), WorldSize, "world size must be at least 1");
        if (Rank < 0 || Rank >= WorldSize) throw new ArgumentOutOfRangeException(nameof(Rank), Rank, $"rank must be in 0..{WorldSize - 1}");
        return this;
    }

    /// <summary>This rank's samples for a data set of <paramref name="count"/>: <c>ceil(count / W)</c> when padded.</summary>
    public long CountFor(long count) => WorldSize <= 1 ? count
        : Pad ? (count + WorldSize - 1) / WorldSize
        : count / WorldSize + (Rank < count % WorldSize ? 1 : 0);

    /// <summary>This rank's sample indices for one epoch, in order.</summary>
    /// <param name="count">Samples in the whole data set.</param>
    /// <param name="shuffle">Permute (with <paramref name="seed"/>) or keep the data set's order.</param>
    /// <param name="seed">The epoch's seed: the same on every rank.</param>
    public int[] Indices(long count, bool shuffle, int seed)
    {
        Validate();
        if (count > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(count), count, "at most int.MaxValue samples");
        var order = Enumerable.Range(0, (int)count).ToArray();
        if (shuffle) new Random(seed).Shuffle(order);
        if (WorldSize == 1 || count == 0) return order;
        var perRank = (int)CountFor(count);
        var result = new int[perRank];
        // Without padding the positions stay below the count, so the modulo never wraps.
        for (var i = 0; i < perRank; i++) result[i] = order[(Rank + (long)i * WorldSize) % count];
        return result;
    }
}
