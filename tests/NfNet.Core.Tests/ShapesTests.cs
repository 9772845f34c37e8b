using NfNet.Platform;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Core.Tests;

/// <summary><see cref="Shapes"/> reads what TorchSharp's array-returning members would, without them: sizes and
/// strides written out by hand for contiguous, permuted, sliced, zero-size and rank-0 tensors.</summary>
public sealed class ShapesTests
{
    [Fact]
    public void OfAndStridesOfGiveEachDimensionsSizeAndStride()
    {
        using var contiguous = zeros(2, 3, 4, 5);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, Shapes.Of(contiguous));
        Assert.Equal(new long[] { 60, 20, 5, 1 }, Shapes.StridesOf(contiguous));

        using var channelsLast = contiguous.permute(0, 2, 3, 1);   // [N, H, W, C] view of the NCHW storage
        Assert.Equal(new long[] { 2, 4, 5, 3 }, Shapes.Of(channelsLast));
        Assert.Equal(new long[] { 60, 5, 1, 20 }, Shapes.StridesOf(channelsLast));

        using var everyOther = contiguous.slice(3, 0, 5, 2);        // columns 0, 2, 4
        Assert.Equal(new long[] { 2, 3, 4, 3 }, Shapes.Of(everyOther));
        Assert.Equal(new long[] { 60, 20, 5, 2 }, Shapes.StridesOf(everyOther));

        using var empty = zeros(0, 7);
        Assert.Equal(new long[] { 0, 7 }, Shapes.Of(empty));
        using var scalar = tensor(3.0f);
        Assert.Empty(Shapes.Of(scalar));
        Assert.Empty(Shapes.StridesOf(scalar));
    }

    [Fact]
    public void SameComparesRankAndEverySize()
    {
        using var a = zeros(2, 3, 4);
        using var b = ones(2, 3, 4).transpose(1, 2).transpose(1, 2);   // same sizes, other strides
        using var c = zeros(2, 4, 3);
        using var d = zeros(2, 3, 4, 1);
        using var e = zeros(24);
        Assert.True(Shapes.Same(a, b));
        Assert.False(Shapes.Same(a, c));
        Assert.False(Shapes.Same(a, d));
        Assert.False(Shapes.Same(a, e));
        using var s1 = tensor(1.0f);
        using var s2 = tensor(2.0);
        Assert.True(Shapes.Same(s1, s2));
    }
}
