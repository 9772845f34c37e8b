namespace NfNet.Training;

/// <summary>
/// Derives seeds from a run's seed and counters (epoch, step) with SplitMix64, so the same run draws the same data order,
/// augmentation and dropout in every process. .NET's <see cref="HashCode"/> is randomized per process and must not
/// be used for this: a run resumed from a checkpoint in a new process would see other random draws than the
/// uninterrupted run.
/// </summary>
public static class DeterministicSeed
{
    /// <summary>A non-negative seed mixed from <paramref name="seed"/> and the counters.</summary>
    public static int Combine(long seed, long a, long b = 0)
    {
        var h = Mix((ulong)seed);
        h = Mix(h ^ (ulong)a);
        h = Mix(h ^ (ulong)b);
        return (int)(h & 0x7FFF_FFFF);
    }

    // SplitMix64's finalizer (Steele, Lea and Flood 2014).
    private static ulong Mix(ulong z)
    {
        z += 0x9E37_79B9_7F4A_7C15;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB;
        return z ^ (z >> 31);
    }
}
