using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// AGC + weight decay + TorchSharp's SGD (momentum, optionally Nesterov) in two passes over each CPU parameter, instead
/// of the ~8 separate libtorch passes of the plain sequence: one reads the gradient for its unit-wise norms (so that a
/// non-finite gradient is found before anything is written), one goes unit by unit, taking the unit's weight norm
/// while the unit is in the cache and then writing the clipped and decayed gradient, the momentum buffer and the
/// weight (so the weight comes from memory once). Values are computed in float32 and rounded once (bf16
/// round-to-nearest-even), so bf16 results are at least as close to exact as the plain sequence's, not bit-identical
/// to it. The momentum buffers are SGD's own (checkpoints, device moves and schedulers see no difference).
/// </summary>
internal static unsafe class FusedCpuAgcSgd
{
    // Below this many values a parameter is handled on the calling thread.
    private const long ParallelThreshold = 1 << 16;

    // 512-bit loops where the hardware has them (AVX-512): the bf16 update is bound by its widen/narrow arithmetic, and
    // twice the width halved it (42–44 → 16–19 ms for F0's 71.5 M values).
    private static readonly bool WideVectors = Vector512.IsHardwareAccelerated;

    // One parameter's share of a step: its memory (weight, gradient; the momentum buffer once it exists), its units
    // (rows of Fan values) and its hyper-parameters.
    private sealed record Work(Parameter Parameter, SGD.State State, IntPtr Weight, IntPtr Gradient, bool BFloat16,
        long Units, long Fan, bool Clipped, double Decay, double LearningRate, double Momentum, bool Nesterov)
    {
        public double[] GradientNorms { get; } = new double[Units];
    }

    /// <summary>
    /// Runs the step if everything qualifies: the CPU has 256-bit vectors (x64 with AVX2), the inner optimizer is
    /// TorchSharp's SGD without its own decay, dampening
    /// or maximize; every parameter with a gradient is a contiguous float32 or bf16 CPU tensor; no clipped gradient has
    /// a non-finite norm. Returns false, having changed nothing, otherwise.
    /// </summary>
    public static bool TryStep(optim.Optimizer inner, IEnumerable<Parameter> clipped, IEnumerable<Parameter> decayed,
        double decayRate, double clipFactor, double eps, GainClipping gains)
    {
        if (Ineligibility(inner) is not null) return false;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // Parameters are matched by their memory: TorchSharp may hand out different wrapper objects for one tensor.
        var work = Plan((SGD)inner, clipped.Select(DataOf).ToHashSet(), decayed.Select(DataOf).ToHashSet(), decayRate, gains);
        if (work is null) return false;
        foreach (var w in work)
            if (w.Clipped && !GradientNorms(w)) return false; // NaN/∞ somewhere: the plain path reports it
        foreach (var w in work)
        {
            // SGD's first step starts the buffer at the gradient: from zeros, m·0 + g = g.
            if (w.Momentum > 0 && w.State.momentum_buffer is null)
                w.State.momentum_buffer = zeros_like(w.Parameter).DetachFromDisposeScope();
            Update(w, clipFactor, eps);
        }
        return true;
    }

    /// <summary>
    /// The eligibility rule of the fused step, as far as it depends on the machine and the optimizer: null when a step
    /// may run fused, else why not. The step itself also needs every parameter with a gradient to be a contiguous
    /// float32 or bf16 CPU tensor (with a gradient and momentum buffer of the same layout) and every clipped gradient
    /// to have a finite norm; otherwise it falls back to the plain sequence for that step.
    /// </summary>
    public static string? Ineligibility(optim.Optimizer inner)
    {
        // Without 256-bit vector hardware (ARM64's NEON is 128-bit) the vectors would be emulated, slower than libtorch.
        if (!Vector256.IsHardwareAccelerated) return "this CPU has no 256-bit vector hardware (x64 AVX2)";
        if (inner.GetType() != typeof(SGD)) return $"the inner optimizer is {inner.GetType().Name}, not TorchSharp's SGD";
        foreach (var group in inner.ParamGroups.OfType<ParamGroup>())
        {
            if (group.Options is not SGD.Options o) return "an SGD parameter group has no SGD options";
            if (o.dampening is not (null or 0)) return "SGD has dampening";
            if (o.weight_decay is not (null or 0)) return "SGD has its own weight decay";
            if (o.maximize is true) return "SGD maximizes";
        }
        return null;
    }

    private static IntPtr DataOf(Tensor t) => TorchSharpInternals.DataPointer(t);

    private static List<Work>? Plan(SGD sgd, HashSet<IntPtr> clipped, HashSet<IntPtr> decayed, double decayRate,
        GainClipping gains)
    {
        var states = TorchSharpInternals.SgdStates(sgd);
        var work = new List<Work>();
        var index = 0;
        foreach (var group in sgd.ParamGroups.OfType<ParamGroup>())
        {
            var o = (SGD.Options)group.Options!; // checked by Ineligibility
            var momentum = o.momentum ?? 0;
            foreach (var p in group.Parameters)
            {
                var state = states[index++];
                var g = p.grad;
                if (g is null) continue;
                if (state is null || !Qualifies(p, g) || state.momentum_buffer is { } b && !SameLayout(p, b)) return null;
                var units = UnitwiseNorm.IsWhole(p, gains) ? 1 : p.size(0);
                var data = DataOf(p);
                work.Add(new Work(p, state, data, DataOf(g), p.dtype == ScalarType.BFloat16, units, p.numel() / units,
                    clipped.Contains(data), decayed.Contains(data) ? decayRate : 0, group.LearningRate, momentum,
                    o.nesterov ?? false));
            }
        }
        return work;
    }

    private static bool Qualifies(Tensor p, Tensor g) =>
        p.device_type == DeviceType.CPU && p.dtype is ScalarType.Float32 or ScalarType.BFloat16 && p.numel() > 0 && SameLayout(p, g);

    private static bool SameLayout(Tensor p, Tensor t) =>
        t.device_type == DeviceType.CPU && t.dtype == p.dtype && t.is_contiguous() && p.is_contiguous() && Shapes.Same(t, p);

    // Units [u0, u1) of w, on as many threads as libtorch uses when the tensor is large (OpenMpTeam).
    private static void ForUnits(Work w, Action<long, long> body)
    {
        var threads = (int)Math.Min(Math.Max(1, get_num_threads()), w.Units);
        if (threads == 1 || w.Parameter.numel() < ParallelThreshold) { body(0, w.Units); return; }
        // On libtorch's own threads where they can be reached: measured 8–12 ms a step faster than .NET's pool (F0, 128 px,
        // batch 8), whose workers compete with the OpenMP workers still spinning after the backward pass.
        if (OpenMpTeam.IsAvailable) { OpenMpTeam.For(w.Units, threads, (u0, u1) => body(u0, u1)); return; }
        Parallel.For(0, threads, t => body(w.Units * t / threads, w.Units * (t + 1) / threads));
    }

    private static bool GradientNorms(Work w)
    {
        var pg = w.Gradient;
        var finite = true;
        ForUnits(w, (u0, u1) =>
        {
            for (var u = u0; u < u1; u++)
            {
                var gn = Math.Sqrt(w.BFloat16 ? SquaredNorm((ushort*)pg + u * w.Fan, w.Fan) : SquaredNorm((float*)pg + u * w.Fan, w.Fan));
                if (!double.IsFinite(gn)) { finite = false; return; }
                w.GradientNorms[u] = gn;
            }
        });
        return finite;
    }

    // AGC's factor for one unit: min(λ·max(‖W_i‖, ε) / max(‖G_i‖, floor), 1) (paper, eq. 3).
    private static float ClipFactor(double squaredWeightNorm, double gradientNorm, double clipFactor, double eps) =>
        (float)Math.Min(clipFactor * Math.Max(Math.Sqrt(squaredWeightNorm), eps)
            / Math.Max(gradientNorm, AdaptiveGradientClipping.GradientNormFloor), 1.0);

    private static void Update(Work w, double clipFactor, double eps)
    {
        var (pw, pg) = (w.Weight, w.Gradient);
        var pb = w.State.momentum_buffer is { } buffer ? DataOf(buffer) : IntPtr.Zero;
        var k = new Coefficients((float)w.Decay, (float)w.Momentum, (float)w.LearningRate, w.Nesterov);
        ForUnits(w, (u0, u1) =>
        {
            for (var u = u0; u < u1; u++)
            {
                var o = u * w.Fan;
                if (w.BFloat16)
                {
                    var f = w.Clipped ? ClipFactor(SquaredNorm((ushort*)pw + o, w.Fan), w.GradientNorms[u], clipFactor, eps) : 1f;
                    Update((ushort*)pw + o, (ushort*)pg + o, pb == IntPtr.Zero ? null : (ushort*)pb + o, w.Fan, f, k);
                }
                else
                {
                    var f = w.Clipped ? ClipFactor(SquaredNorm((float*)pw + o, w.Fan), w.GradientNorms[u], clipFactor, eps) : 1f;
                    Update((float*)pw + o, (float*)pg + o, pb == IntPtr.Zero ? null : (float*)pb + o, w.Fan, f, k);
                }
            }
        });
    }

    private readonly record struct Coefficients(float Wd, float M, float Lr, bool Nesterov);

    // The four loops over tensor memory below are compiled optimized on their first call, as the standardization's
    // kernels are. Tiered compilation would run them unoptimized for the first training steps (about ten at F0's
    // 128 px, batch 8), without inlining their vector helpers: perf found those Tier-0 frames at several per cent of
    // the pure bf16 step's samples over its first ten steps (benchmarks/README.md, "The step's budget by perf").
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SquaredNorm(float* x, long n)
    {
        long i = 0;
        var wide = Vector512<float>.Zero;
        if (WideVectors)
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Load(x + i);
                wide += v * v;
            }
        var sum = Vector256<float>.Zero;
        for (; i + 8 <= n; i += 8)
        {
            var v = Vector256.Load(x + i);
            sum += v * v;
        }
        double total = (double)Vector512.Sum(wide) + Vector256.Sum(sum);
        for (; i < n; i++) total += (double)x[i] * x[i];
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SquaredNorm(ushort* x, long n)
    {
        long i = 0;
        var wide = Vector512<float>.Zero;
        if (WideVectors)
            for (; i + 32 <= n; i += 32)
            {
                var (even, odd) = BFloat16Bits.WidenInterleaved(Vector512.Load(x + i));
                wide += even * even + odd * odd;
            }
        var sum = Vector256<float>.Zero;
        for (; i + 16 <= n; i += 16)
        {
            var (v0, v1) = BFloat16Bits.Widen(Vector256.Load(x + i));
            sum += v0 * v0 + v1 * v1;
        }
        double total = (double)Vector512.Sum(wide) + Vector256.Sum(sum);
        for (; i < n; i++) { double v = BFloat16Bits.ToFloat(x[i]); total += v * v; }
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Update(float* w, float* g, float* b, long n, float f, Coefficients k)
    {
        long i = 0;
        if (b is not null)
        {
            if (WideVectors)
                for (; i + 16 <= n; i += 16)
                    Store(w + i, g + i, b + i, Step(Vector512.Load(w + i), Vector512.Load(g + i), Vector512.Load(b + i), f, k));
            for (; i + 8 <= n; i += 8)
                Store(w + i, g + i, b + i, Step(Vector256.Load(w + i), Vector256.Load(g + i), Vector256.Load(b + i), f, k));
        }
        for (; i < n; i++)
        {
            var (ng, nb, nw) = Step(w[i], g[i], b is null ? 0f : b[i], f, k);
            g[i] = ng;
            if (b is not null) b[i] = nb;
            w[i] = nw;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Update(ushort* w, ushort* g, ushort* b, long n, float f, Coefficients k)
    {
        long i = 0;
        if (b is not null)
        {
            if (WideVectors)
                for (; i + 32 <= n; i += 32)
                {
                    // Even and odd elements apart (a shift and a mask, no shuffles): the step is element-wise.
                    var (we, wo) = BFloat16Bits.WidenInterleaved(Vector512.Load(w + i));
                    var (ge, go) = BFloat16Bits.WidenInterleaved(Vector512.Load(g + i));
                    var (be, bo) = BFloat16Bits.WidenInterleaved(Vector512.Load(b + i));
                    var (nge, nbe, nwe) = Step(we, ge, be, f, k);
                    var (ngo, nbo, nwo) = Step(wo, go, bo, f, k);
                    Store(w + i, g + i, b + i, (BFloat16Bits.NarrowInterleaved(nge, ngo), BFloat16Bits.NarrowInterleaved(nbe, nbo),
                        BFloat16Bits.NarrowInterleaved(nwe, nwo)));
                }
            for (; i + 16 <= n; i += 16)
            {
                var (w0, w1) = BFloat16Bits.Widen(Vector256.Load(w + i));
                var (g0, g1) = BFloat16Bits.Widen(Vector256.Load(g + i));
                var (b0, b1) = BFloat16Bits.Widen(Vector256.Load(b + i));
                var (ng0, nb0, nw0) = Step(w0, g0, b0, f, k);
                var (ng1, nb1, nw1) = Step(w1, g1, b1, f, k);
                Store(w + i, g + i, b + i, (BFloat16Bits.Narrow(ng0, ng1), BFloat16Bits.Narrow(nb0, nb1), BFloat16Bits.Narrow(nw0, nw1)));
            }
        }
        for (; i < n; i++)
        {
            var (ng, nb, nw) = Step(BFloat16Bits.ToFloat(w[i]), BFloat16Bits.ToFloat(g[i]), b is null ? 0f : BFloat16Bits.ToFloat(b[i]), f, k);
            g[i] = BFloat16Bits.FromFloat(ng);
            if (b is not null) b[i] = BFloat16Bits.FromFloat(nb);
            w[i] = BFloat16Bits.FromFloat(nw);
        }
    }

    // A step's three results (gradient, momentum buffer, weight) written back.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(T* w, T* g, T* b, (Vector256<T> G, Vector256<T> B, Vector256<T> W) v) where T : unmanaged
    {
        v.G.Store(g);
        v.B.Store(b);
        v.W.Store(w);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(T* w, T* g, T* b, (Vector512<T> G, Vector512<T> B, Vector512<T> W) v) where T : unmanaged
    {
        v.G.Store(g);
        v.B.Store(b);
        v.W.Store(w);
    }

    // g' = f·g + wd·w; b' = m·b + g'; update = Nesterov ? g' + m·b' : (m > 0 ? b' : g'); w' = w − lr·update.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>) Step(Vector256<float> w, Vector256<float> g,
        Vector256<float> b, float f, Coefficients k)
    {
        var ng = g * f + w * k.Wd;
        var nb = b * k.M + ng;
        var update = k.Nesterov ? ng + nb * k.M : nb;
        return (ng, nb, w - update * k.Lr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>) Step(Vector512<float> w, Vector512<float> g,
        Vector512<float> b, float f, Coefficients k)
    {
        var ng = g * f + w * k.Wd;
        var nb = b * k.M + ng;
        var update = k.Nesterov ? ng + nb * k.M : nb;
        return (ng, nb, w - update * k.Lr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float, float, float) Step(float w, float g, float b, float f, Coefficients k)
    {
        var ng = g * f + w * k.Wd;
        if (k.M == 0) return (ng, 0f, w - ng * k.Lr);
        var nb = b * k.M + ng;
        var update = k.Nesterov ? ng + nb * k.M : nb;
        return (ng, nb, w - update * k.Lr);
    }
}
