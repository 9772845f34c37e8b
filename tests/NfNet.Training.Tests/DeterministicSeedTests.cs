using Xunit;

namespace NfNet.Training.Tests;

public sealed class DeterministicSeedTests
{
    // Computed independently (Python, 64-bit SplitMix64, whose first output from state 0 is 0xE220A8397B1DCDAF as in
    // Steele et al.'s reference): the same numbers in every process, unlike HashCode.Combine, which .NET randomizes.
    [Theory]
    [InlineData(0L, 0L, 0L, 956087953)]
    [InlineData(0L, 5L, 17L, 2089481745)]
    [InlineData(42L, 3L, 0L, 1691544073)]
    [InlineData(-1L, 7L, 0L, 484511781)]
    public void SeedsAreFixedFunctionsOfTheirInputs(long seed, long a, long b, int expected)
    {
        Assert.Equal(expected, DeterministicSeed.Combine(seed, a, b));
    }

    [Fact]
    public void NeighbouringStepsGetUnrelatedSeeds()
    {
        var seeds = Enumerable.Range(0, 1000).Select(step => DeterministicSeed.Combine(0, step)).ToArray();
        Assert.Equal(seeds.Length, seeds.Distinct().Count());
        Assert.All(seeds, s => Assert.True(s >= 0));
    }
}
