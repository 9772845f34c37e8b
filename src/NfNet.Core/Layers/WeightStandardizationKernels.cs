using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using NfNet.Platform;

namespace NfNet.Layers;

/// <summary>
/// The vector loops of the fused weight standardization (<see cref="FusedWeightStandardization"/>), over contiguous
/// rows of <c>fan</c> values (one output unit each). Forward: one pass for the unit's mean and biased variance, one for
/// the output <c>(W − mean) · gain · c</c>. Backward: one pass for <c>ΣG</c> and <c>ΣG·(W − mean)</c>, one for the weight's
/// gradient. Sums are kept in float64, element arithmetic is float32, and every result is rounded once to its dtype.
/// </summary>
/// <remarks>
/// Large weights are split by rows over libtorch's OpenMP team (<see cref="OpenMpTeam"/>; each row's arithmetic is the
/// same whichever thread runs it, so results do not depend on the split). Split over .NET worker threads instead, the
/// kernels measured faster alone but 40–50 ms a step slower (F0, 128 px, batch 8): libtorch's OpenMP workers keep
/// spinning after each parallel region, and on a small machine the two pools took turns on the same cores. Without the
/// team every row runs on the calling thread.
/// </remarks>
internal static unsafe class WeightStandardizationKernels
{

    /// <summary>Per-unit values the forward pass computes and the backward pass reuses.</summary>
    internal sealed class RowStatistics(long rows)
    {
        /// <summary>Each unit's mean.</summary>
        public double[] Mean { get; } = new double[rows];
        /// <summary>Each unit's scale c (without its gain).</summary>
        public double[] Scale { get; } = new double[rows];
        /// <summary>Each unit's variance factor of the backward pass (see <see cref="StandardizationFormula.ScaleOf"/>).</summary>
        public double[] Curvature { get; } = new double[rows];
    }

    /// <summary>
    /// <c>output[o, j] = (w[o, j] − mean_o) · gain_o · c_o</c> for <paramref name="rows"/> rows of <paramref name="fan"/>
    /// values; the statistics are written to <paramref name="statistics"/>.
    /// </summary>
    public static void Forward<TW, TO>(IntPtr w, IntPtr gain, IntPtr output, long rows, long fan, StandardizationFormula formula,
        RowStatistics statistics) where TW : struct, IElement where TO : struct, IElement =>
        OpenMpTeam.For(rows, Threads(rows, fan), (o0, o1) => ForwardRows<TW, TO>(w, gain, output, o0, o1, fan, formula, statistics));

    private static void ForwardRows<TW, TO>(IntPtr w, IntPtr gain, IntPtr output, long o0, long o1, long fan,
        StandardizationFormula formula, RowStatistics statistics) where TW : struct, IElement where TO : struct, IElement
    {
        for (var o = o0; o < o1; o++)
        {
            var start = o * fan;
            var (mean, variance) = Moments<TW>((void*)w, start, fan);
            var (c, k) = formula.ScaleOf(variance, fan);
            statistics.Mean[o] = mean;
            statistics.Scale[o] = c;
            statistics.Curvature[o] = k;
            Scale<TW, TO>((void*)w, (void*)output, start, fan, Split(mean), (float)(TW.Read((void*)gain, o) * c));
        }
    }

    /// <summary>
    /// The gradients of <see cref="Forward{TW, TO}"/>'s output given <paramref name="g"/>, its incoming gradient:
    /// <c>dgain_o = c_o · Σ_j G_j d_j</c> and <c>dW_j = a_o (G_j − mean(G)) − a_o · k_o · d_j · Σ_i G_i d_i / fan</c> with
    /// <c>d = W − mean</c> and <c>a = gain · c</c> (batch-norm's backward for timm's formula; DeepMind's has k = 1/var, or 0
    /// under its floor).
    /// </summary>
    public static void Backward<TG, TW>(IntPtr g, IntPtr w, IntPtr gain, IntPtr dw, IntPtr dgain, long rows, long fan,
        RowStatistics statistics) where TG : struct, IElement where TW : struct, IElement =>
        OpenMpTeam.For(rows, Threads(rows, fan), (o0, o1) => BackwardRows<TG, TW>(g, w, gain, dw, dgain, o0, o1, fan, statistics));

    private static void BackwardRows<TG, TW>(IntPtr g, IntPtr w, IntPtr gain, IntPtr dw, IntPtr dgain, long o0, long o1, long fan,
        RowStatistics statistics) where TG : struct, IElement where TW : struct, IElement
    {
        for (var o = o0; o < o1; o++)
        {
            var start = o * fan;
            var mean = Split(statistics.Mean[o]);
            var c = statistics.Scale[o];
            var (sumG, sumGd) = GradientSums<TG, TW>((void*)g, (void*)w, start, fan, mean);
            TW.Write((void*)dgain, o, (float)(c * sumGd));
            var a = TW.Read((void*)gain, o) * c;
            var b = -a * statistics.Curvature[o] * sumGd / fan;
            GradientOfWeight<TG, TW>((void*)g, (void*)w, (void*)dw, start, fan, mean, (float)a, (float)b, (float)(-a * sumG / fan));
        }
    }

    // Below this many values a weight is standardized on the calling thread (a team's start costs microseconds).
    private const long ParallelThreshold = 1 << 16;

    private static int Threads(long rows, long fan) =>
        rows * fan < ParallelThreshold ? 1 : Math.Max(1, TorchSharp.torch.get_num_threads());

    // The mean as a float32 pair (hi + lo): (x − hi) − lo centres a value with one rounding of the small result. With
    // the mean rounded to float32 alone, a unit whose spread is small against its mean (DeepMind's floor) would lose
    // the digits of its deviations.
    private readonly record struct Mean(float Hi, float Lo);

    private static Mean Split(double mean)
    {
        var hi = (float)mean;
        return new Mean(hi, (float)(mean - hi));
    }

    // Mean and biased variance, from sums of the values shifted by the row's first value (no cancellation for rows
    // whose mean is large against their spread). Blocks of 64 values are summed in float32 (two chains, so the adds
    // overlap) and each block's sums added in float64: a few float32 roundings per lane at most.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double Mean, double Variance) Moments<TW>(void* w, long start, long n) where TW : struct, IElement
    {
        var shift = TW.Read(w, start);
        var vshift = Vector256.Create(shift);
        double t1 = 0, t2 = 0;
        long j = 0;
        while (j + 16 <= n)
        {
            var (a1, b1, a2, b2) = (Vector256<float>.Zero, Vector256<float>.Zero, Vector256<float>.Zero, Vector256<float>.Zero);
            for (var end = Math.Min(n, j + Block); j + 16 <= end; j += 16)
            {
                var (x, y) = TW.Load16(w, start + j, TW.Interleaved);
                (x, y) = (x - vshift, y - vshift);
                (a1, b1) = (a1 + x, b1 + y);
                (a2, b2) = (Vector256.FusedMultiplyAdd(x, x, a2), Vector256.FusedMultiplyAdd(y, y, b2));
            }
            t1 += Sum(a1 + b1);
            t2 += Sum(a2) + Sum(b2);
        }
        for (; j < n; j++)
        {
            double d = TW.Read(w, start + j) - shift;
            t1 += d;
            t2 += d * d;
        }
        var m = t1 / n;
        return (shift + m, Math.Max(t2 / n - m * m, 0.0));
    }

    // Values summed per block before they are added in float64.
    private const long Block = 64;

    private static double Sum(Vector256<float> v)
    {
        var (lo, hi) = Vector256.Widen(v);
        return Vector256.Sum(lo + hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scale<TW, TO>(void* w, void* output, long start, long n, Mean mean, float a)
        where TW : struct, IElement where TO : struct, IElement
    {
        var interleaved = TW.Interleaved && TO.Interleaved;
        var (hi, lo) = (Vector256.Create(mean.Hi), Vector256.Create(mean.Lo));
        var va = Vector256.Create(a);
        long j = 0;
        for (; j + 16 <= n; j += 16)
        {
            var (x, y) = TW.Load16(w, start + j, interleaved);
            TO.Store16(output, start + j, (x - hi - lo) * va, (y - hi - lo) * va, interleaved);
        }
        for (; j < n; j++) TO.Write(output, start + j, (TW.Read(w, start + j) - mean.Hi - mean.Lo) * a);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double SumG, double SumGd) GradientSums<TG, TW>(void* g, void* w, long start, long n, Mean mean)
        where TG : struct, IElement where TW : struct, IElement
    {
        var interleaved = TG.Interleaved && TW.Interleaved;
        var (hi, lo) = (Vector256.Create(mean.Hi), Vector256.Create(mean.Lo));
        double t1 = 0, t2 = 0;
        long j = 0;
        while (j + 16 <= n)
        {
            var (a1, b1, a2, b2) = (Vector256<float>.Zero, Vector256<float>.Zero, Vector256<float>.Zero, Vector256<float>.Zero);
            for (var end = Math.Min(n, j + Block); j + 16 <= end; j += 16)
            {
                var (gx, gy) = TG.Load16(g, start + j, interleaved);
                var (wx, wy) = TW.Load16(w, start + j, interleaved);
                (a1, b1) = (a1 + gx, b1 + gy);
                (a2, b2) = (Vector256.FusedMultiplyAdd(gx, wx - hi - lo, a2), Vector256.FusedMultiplyAdd(gy, wy - hi - lo, b2));
            }
            t1 += Sum(a1 + b1);
            t2 += Sum(a2) + Sum(b2);
        }
        for (; j < n; j++)
        {
            double gj = TG.Read(g, start + j);
            t1 += gj;
            t2 += gj * (TW.Read(w, start + j) - mean.Hi - mean.Lo);
        }
        return (t1, t2);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GradientOfWeight<TG, TW>(void* g, void* w, void* dw, long start, long n, Mean mean, float a, float b,
        float c) where TG : struct, IElement where TW : struct, IElement
    {
        var interleaved = TG.Interleaved && TW.Interleaved;
        var (hi, lo) = (Vector256.Create(mean.Hi), Vector256.Create(mean.Lo));
        var (va, vb, vc) = (Vector256.Create(a), Vector256.Create(b), Vector256.Create(c));
        long j = 0;
        for (; j + 16 <= n; j += 16)
        {
            var (gx, gy) = TG.Load16(g, start + j, interleaved);
            var (wx, wy) = TW.Load16(w, start + j, interleaved);
            TW.Store16(dw, start + j, gx * va + (wx - hi - lo) * vb + vc, gy * va + (wy - hi - lo) * vb + vc, interleaved);
        }
        for (; j < n; j++)
            TW.Write(dw, start + j, TG.Read(g, start + j) * a + (TW.Read(w, start + j) - mean.Hi - mean.Lo) * b + c);
    }

    /// <summary>
    /// How the kernels read and write one element type, 16 values at a time (as two vectors of 8) or one. With
    /// <c>interleaved</c> a type may deliver the 16 values in any fixed order of its choice, because every operand of
    /// that kernel is of a type that chose the same one (bf16: even elements, then odd, which costs a shift and a mask
    /// instead of a cross-lane widening); otherwise in order.
    /// </summary>
    internal interface IElement
    {
        static abstract bool Interleaved { get; }
        static abstract (Vector256<float>, Vector256<float>) Load16(void* p, long i, bool interleaved);
        static abstract void Store16(void* p, long i, Vector256<float> x, Vector256<float> y, bool interleaved);
        static abstract float Read(void* p, long i);
        static abstract void Write(void* p, long i, float v);
    }

    /// <summary>float32 memory.</summary>
    internal readonly struct Float32 : IElement
    {
        public static bool Interleaved => false;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector256<float>, Vector256<float>) Load16(void* p, long i, bool interleaved) =>
            (Vector256.Load((float*)p + i), Vector256.Load((float*)p + i + 8));
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store16(void* p, long i, Vector256<float> x, Vector256<float> y, bool interleaved)
        {
            x.Store((float*)p + i);
            y.Store((float*)p + i + 8);
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Read(void* p, long i) => ((float*)p)[i];
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Write(void* p, long i, float v) => ((float*)p)[i] = v;
    }

    /// <summary>bf16 memory, widened to float32 and rounded back to nearest even.</summary>
    internal readonly struct BFloat16 : IElement
    {
        public static bool Interleaved => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector256<float>, Vector256<float>) Load16(void* p, long i, bool interleaved) =>
            interleaved ? BFloat16Bits.WidenInterleaved(Vector256.Load((ushort*)p + i)) : BFloat16Bits.Widen(Vector256.Load((ushort*)p + i));
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store16(void* p, long i, Vector256<float> x, Vector256<float> y, bool interleaved) =>
            (interleaved ? BFloat16Bits.NarrowInterleaved(x, y) : BFloat16Bits.Narrow(x, y)).Store((ushort*)p + i);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Read(void* p, long i) => BFloat16Bits.ToFloat(((ushort*)p)[i]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Write(void* p, long i, float v) => ((ushort*)p)[i] = BFloat16Bits.FromFloat(v);
    }
}
