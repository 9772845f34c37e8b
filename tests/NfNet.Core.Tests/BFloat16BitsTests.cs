using System.Runtime.Intrinsics;
using NfNet.Platform;
using Xunit;

namespace NfNet.Tests;

/// <summary>The fused kernels' bf16 conversions against the definition: bf16 is the upper half of a float32, narrowing
/// rounds to nearest with ties to even, and a NaN stays a NaN.</summary>
public sealed class BFloat16BitsTests
{
    private static readonly float[] Values =
    {
        1f, -2.5f, 3.14159f, 1e-20f, -7.0e30f, 0f, -0f,
        BitConverter.Int32BitsToSingle(0x3F808000), // exactly half-way between two bf16 values, lower one even: down
        BitConverter.Int32BitsToSingle(0x3F818000), // half-way, upper one even: up
        BitConverter.Int32BitsToSingle(0x7FFFFFFF), // a NaN with every payload bit set: a plain rounding add makes it −0
        float.PositiveInfinity, float.NegativeInfinity, float.NaN, 65504.7f, -1.00390625f, 0.333333f,
    };

    // Round to nearest even by the definition, in integers wide enough not to overflow.
    private static ushort Expected(float v)
    {
        if (float.IsNaN(v)) return BFloat16Bits.QuietNaN;
        var bits = (ulong)(uint)BitConverter.SingleToInt32Bits(v);
        var (upper, lower) = (bits >> 16, bits & 0xFFFF);
        if (lower > 0x8000 || lower == 0x8000 && (upper & 1) == 1) upper++;
        return (ushort)upper;
    }

    [Fact]
    public void ScalarNarrowingRoundsToNearestEvenAndKeepsNaN()
    {
        foreach (var v in Values)
        {
            var got = BFloat16Bits.FromFloat(v);
            if (float.IsNaN(v)) Assert.True(float.IsNaN(BFloat16Bits.ToFloat(got)), $"{v} must stay NaN");
            else Assert.Equal(Expected(v), got);
        }
    }

    [Fact]
    public void VectorNarrowingEqualsTheDefinitionInOrderAndInterleaved()
    {
        var input = Values.ToArray();
        var lo = Vector256.Create(input.AsSpan(0, 8));
        var hi = Vector256.Create(input.AsSpan(8, 8));
        var ordered = BFloat16Bits.Narrow(lo, hi);
        for (var i = 0; i < 16; i++)
        {
            if (float.IsNaN(input[i])) Assert.Equal(BFloat16Bits.QuietNaN, ordered[i]);
            else Assert.Equal(Expected(input[i]), ordered[i]);
        }
        // Interleaved: widening gives even then odd elements, and narrowing them puts every value back in place.
        var (even, odd) = BFloat16Bits.WidenInterleaved(ordered);
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(BFloat16Bits.ToFloat(ordered[2 * i]), even[i]);
            Assert.Equal(BFloat16Bits.ToFloat(ordered[2 * i + 1]), odd[i]);
        }
        Assert.Equal(ordered, BFloat16Bits.NarrowInterleaved(even, odd));
        var (first, second) = BFloat16Bits.Widen(ordered);
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(BFloat16Bits.ToFloat(ordered[i]), first[i]);
            Assert.Equal(BFloat16Bits.ToFloat(ordered[i + 8]), second[i]);
        }
    }
}
