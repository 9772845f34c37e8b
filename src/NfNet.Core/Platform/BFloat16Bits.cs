using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NfNet.Platform;

/// <summary>
/// bf16 ⇄ float32 conversions for the fused CPU kernels (the AGC-SGD step, weight standardization), which read and write
/// tensor memory directly. A bf16 value is the upper half of a float32, so widening is a shift; narrowing rounds to
/// nearest even, as libtorch's conversion does, and keeps NaN a NaN (a plain rounding add can carry a NaN with a full
/// payload into the sign bit, making it −0). Every member is inlined into the kernels' loops (one call per 16 values
/// would cost more than the work).
/// </summary>
internal static class BFloat16Bits
{
    /// <summary>The canonical quiet NaN in bf16.</summary>
    public const ushort QuietNaN = 0x7FC0;

    /// <summary>A bf16 value as float32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>A float32 rounded to the nearest bf16 (ties to even); NaN stays a quiet NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        var bits = (uint)BitConverter.SingleToInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    /// <summary>16 bf16 values as two vectors of 8 float32 (lower half first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<float> Lower, Vector256<float> Upper) Widen(Vector256<ushort> v) =>
        (Vector256.ShiftLeft(Vector256.WidenLower(v), 16).AsSingle(), Vector256.ShiftLeft(Vector256.WidenUpper(v), 16).AsSingle());

    /// <summary>16 bf16 values as their even elements and their odd elements: a shift and a mask, no shuffle. For
    /// element-wise work whose operands all come this way (undone by <see cref="NarrowInterleaved(Vector256{float}, Vector256{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<float> Even, Vector256<float> Odd) WidenInterleaved(Vector256<ushort> v)
    {
        var bits = v.AsUInt32();
        return (Vector256.ShiftLeft(bits, 16).AsSingle(), (bits & Vector256.Create(0xFFFF0000u)).AsSingle());
    }

    /// <summary>The inverse of <see cref="WidenInterleaved(Vector256{ushort})"/>: even and odd elements rounded and put back in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> NarrowInterleaved(Vector256<float> even, Vector256<float> odd) =>
        (Round(even) | Vector256.ShiftLeft(Round(odd), 16)).AsUInt16();

    /// <summary>16 float32 rounded to 16 bf16 (ties to even, NaN kept).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> Narrow(Vector256<float> lower, Vector256<float> upper) =>
        Vector256.Narrow(Round(lower), Round(upper));

    // The rounded value in the low 16 bits of each lane; a NaN lane becomes the quiet NaN.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Round(Vector256<float> v)
    {
        var x = v.AsUInt32();
        var rounded = Vector256.ShiftRightLogical(x + Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(x, 16) & Vector256.Create(1u)), 16);
        return Vector256.ConditionalSelect(Vector256.Equals(v, v).AsUInt32(), rounded, Vector256.Create((uint)QuietNaN));
    }

    /// <summary>32 bf16 values as their even and their odd elements (the 512-bit form of
    /// <see cref="WidenInterleaved(Vector256{ushort})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector512<float> Even, Vector512<float> Odd) WidenInterleaved(Vector512<ushort> v)
    {
        var bits = v.AsUInt32();
        return (Vector512.ShiftLeft(bits, 16).AsSingle(), (bits & Vector512.Create(0xFFFF0000u)).AsSingle());
    }

    /// <summary>The inverse of <see cref="WidenInterleaved(Vector512{ushort})"/>, rounding as
    /// <see cref="FromFloat"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ushort> NarrowInterleaved(Vector512<float> even, Vector512<float> odd) =>
        (Round(even) | Vector512.ShiftLeft(Round(odd), 16)).AsUInt16();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Round(Vector512<float> v)
    {
        var x = v.AsUInt32();
        var rounded = Vector512.ShiftRightLogical(x + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(x, 16) & Vector512.Create(1u)), 16);
        return Vector512.ConditionalSelect(Vector512.Equals(v, v).AsUInt32(), rounded, Vector512.Create((uint)QuietNaN));
    }
}
