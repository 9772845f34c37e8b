using NfNet.Training.Data;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary><see cref="TensorDataSource.Take"/>: the first examples, as copies the new source owns.</summary>
public sealed class TensorDataSourceTakeTests
{
    // Five 1×1×2 images whose pixels are 2i and 2i + 1, labelled i.
    private static TensorDataSource Five() => new(
        tensor(new float[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }).reshape(5, 1, 1, 2),
        tensor(new long[] { 0, 1, 2, 3, 4 }));

    [Fact]
    public void TakesTheFirstExamplesAsCopies()
    {
        using var all = Five();
        using var first = all.Take(2);
        Assert.Equal(2, first.Count);
        Assert.Equal(new[] { 0f, 1f, 2f, 3f }, first.Images.data<float>().ToArray());
        Assert.Equal(new long[] { 0, 1 }, first.Labels.data<long>().ToArray());
        all.Images.zero_();
        Assert.Equal(new[] { 0f, 1f, 2f, 3f }, first.Images.data<float>().ToArray());   // not a view of the source
    }

    [Fact]
    public void TakingMoreThanThereIsTakesAll()
    {
        using var all = Five();
        using var every = all.Take(100);
        Assert.Equal(5, every.Count);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, every.Labels.data<long>().ToArray());
    }
}
