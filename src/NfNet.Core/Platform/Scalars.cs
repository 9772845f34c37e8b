using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// Scalar-safe forms of the TorchSharp calls that would otherwise leave a <see cref="Scalar"/> to the finalizer: the
/// one place that holds NfNet.NET's rule for TorchSharp Scalars, public so that your own TorchSharp code can keep it.
/// </summary>
/// <remarks>
/// <para><b>The hazard.</b> In TorchSharp 0.107 a <see cref="Scalar"/> is a raw native pointer that only its finalizer
/// frees: no SafeHandle, no <c>GC.KeepAlive</c>, and no <c>DisposeScope</c> tracks it. Every implicit conversion of a
/// number (<c>t.mul_(0.5)</c>, <c>t * 2.0</c>, <c>t.add_(u, alpha: lr)</c>), every <c>ToDouble()</c>,
/// <c>ToBoolean()</c> or <c>ToInt64()</c> on a tensor, and TorchSharp methods that convert inside (<c>a + b</c> and
/// <c>add_(Tensor)</c> with their default alpha, <c>square()</c>, <c>linalg.vector_norm</c>'s order, <c>arange(stop)</c>,
/// <c>leaky_relu</c>, <c>celu</c>, <c>elu</c>, <c>softplus</c>, SGD's and Adam's <c>step</c>, …) make a Scalar that
/// nothing owns. Once its handle has been read, the JIT may treat the object as dead, and a garbage collection on any
/// other thread (a data loader, <c>Parallel.For</c>, a test runner) can free it while libtorch still reads it:
/// "Unknown scalar type", a wrong value, or <c>std::terminate</c>. Upstream fixes (TorchSharp PRs #1434 and #1496)
/// are not released.</para>
/// <para><b>Its relative: tensors.</b> A TorchSharp tensor also frees its native memory in its finalizer, and its
/// methods call libtorch after reading their handle, so in <c>(a - b).abs()</c> the temporary <c>a - b</c> can be
/// finalized while libtorch reads it (a segmentation fault). A dispose scope holds every tensor made inside it, so
/// code run in <c>torch.NewDisposeScope()</c> is safe; the library keeps its per-step tensors in scopes, and the
/// <c>Read*</c> methods below keep their argument alive until the value is read.</para>
/// <para><b>The rule</b> (enforced over the compiled IL of every NfNet assembly by
/// <c>tests/NfNet.Reliability.Tests</c>): a constant is a <c>static readonly</c> Scalar (it never becomes
/// unreachable; see <see cref="One"/>); a per-call value is <c>using var s = x.ToScalar();</c> around the call; a value
/// is read back through <see cref="ReadDouble"/>, <see cref="ReadInt64"/> or <see cref="ReadBoolean"/>, which own and
/// dispose theirs; and the converting TorchSharp methods are replaced by the forms below, which take an owned Scalar
/// or a tensor.</para>
/// </remarks>
public static class Scalars
{
    /// <summary>The integer 1 (the default alpha of <c>add</c>; integer, so it never promotes an integer tensor).</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>The integer 2 (an exponent for <c>pow</c>).</summary>
    public static readonly Scalar Two = 2.ToScalar();

    /// <summary>The integer -1 (<c>a - b</c> as <c>a.add(b, MinusOne)</c>).</summary>
    public static readonly Scalar MinusOne = (-1).ToScalar();

    /// <summary>The integer 0.</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>A tensor's single value as a double, through a Scalar that is disposed before returning (instead of
    /// TorchSharp's <c>ToDouble()</c>, whose Scalar is left to the finalizer).</summary>
    /// <exception cref="ArgumentException">The tensor does not hold exactly one value (libtorch's message).</exception>
    public static double ReadDouble(this Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var scalar = tensor.ToScalar();
        GC.KeepAlive(tensor);   // a temporary (x.sum().ReadDouble()) must outlive libtorch's read of it: see remarks
        return scalar.ToDouble();
    }

    /// <summary>A tensor's single value as a long (instead of <c>ToInt64()</c>).</summary>
    public static long ReadInt64(this Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var scalar = tensor.ToScalar();
        GC.KeepAlive(tensor);   // a temporary (x.sum().ReadDouble()) must outlive libtorch's read of it: see remarks
        return scalar.ToInt64();
    }

    /// <summary>A tensor's single value as a bool (instead of <c>ToBoolean()</c>).</summary>
    public static bool ReadBoolean(this Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var scalar = tensor.ToScalar();
        GC.KeepAlive(tensor);   // a temporary (x.sum().ReadDouble()) must outlive libtorch's read of it: see remarks
        return scalar.ToBoolean();
    }

    /// <summary><c>a + b</c> (TorchSharp's operator and <c>add(Tensor)</c> convert their default alpha inside).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a += b</c> in place (instead of <c>add_(Tensor)</c>).</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary><c>a + alpha·b</c>, with an owned Scalar for <paramref name="alpha"/>.</summary>
    public static Tensor Plus(this Tensor a, Tensor b, double alpha)
    {
        using var s = alpha.ToScalar();
        return a.add(b, s);
    }

    /// <summary><c>a += alpha·b</c> in place, with an owned Scalar for <paramref name="alpha"/>.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b, double alpha)
    {
        using var s = alpha.ToScalar();
        return a.add_(b, s);
    }

    /// <summary><c>t + value</c>, with an owned Scalar.</summary>
    public static Tensor Plus(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.add(s, One);
    }

    /// <summary><c>t += value</c> in place, with an owned Scalar.</summary>
    public static Tensor PlusInPlace(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.add_(s, One);
    }

    /// <summary><c>t + value</c> with an integer Scalar (an integer tensor stays integer).</summary>
    public static Tensor Plus(this Tensor t, long value)
    {
        using var s = value.ToScalar();
        return t.add(s, One);
    }

    /// <summary><c>t · factor</c> with an integer Scalar (an integer tensor stays integer).</summary>
    public static Tensor Times(this Tensor t, long factor)
    {
        using var s = factor.ToScalar();
        return t.mul(s);
    }

    /// <summary><c>t · factor</c>, with an owned Scalar.</summary>
    public static Tensor Times(this Tensor t, double factor)
    {
        using var s = factor.ToScalar();
        return t.mul(s);
    }

    /// <summary><c>t ·= factor</c> in place, with an owned Scalar.</summary>
    public static Tensor TimesInPlace(this Tensor t, double factor)
    {
        using var s = factor.ToScalar();
        return t.mul_(s);
    }

    /// <summary><c>t / divisor</c>, with an owned Scalar.</summary>
    public static Tensor DividedBy(this Tensor t, double divisor)
    {
        using var s = divisor.ToScalar();
        return t.div(s);
    }

    /// <summary><c>t /= divisor</c> in place, with an owned Scalar.</summary>
    public static Tensor DividedByInPlace(this Tensor t, double divisor)
    {
        using var s = divisor.ToScalar();
        return t.div_(s);
    }

    /// <summary><c>t²</c> elementwise (instead of <c>square()</c>, which is <c>pow</c> of an unowned 2).</summary>
    public static Tensor Squared(this Tensor t) => t.pow(Two);

    /// <summary>The 2-norm over <paramref name="dims"/> (instead of <c>linalg.vector_norm</c>, whose order is an
    /// unowned Scalar): <c>linalg.norm</c> over the dims flattened to one, which is the vector norm for any rank.</summary>
    /// <param name="t">The tensor.</param>
    /// <param name="dims">Dimensions to reduce; null for all (a 0-d result, or [1, …] with keepdim).</param>
    /// <param name="keepdim">Keep the reduced dimensions as size 1.</param>
    public static Tensor VectorNorm2(this Tensor t, long[]? dims = null, bool keepdim = false)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (dims is null || dims.Length == t.dim())
        {
            using var flat = t.reshape(-1);
            var whole = linalg.norm(flat, 2.0, [0]);
            if (!keepdim) return whole;
            using (whole) return whole.reshape(Enumerable.Repeat(1L, (int)t.dim()).ToArray());
        }
        if (dims.Length == 1) return linalg.norm(t, 2.0, dims, keepdim);
        // Trailing dimensions (the unit-wise norms of AGC): one view, one reduction.
        var rank = t.dim();
        var sorted = dims.Select(d => d < 0 ? d + rank : d).Order().ToArray();
        if (sorted[^1] != rank - 1 || sorted[^1] - sorted[0] != sorted.Length - 1)
            throw new ArgumentException($"VectorNorm2 reduces one dimension, all of them, or trailing ones; got [{string.Join(", ", dims)}] of a rank-{rank} tensor", nameof(dims));
        var lead = Shapes.Of(t)[..(int)sorted[0]];
        using var units = t.reshape([.. lead, -1]);
        var norm = linalg.norm(units, 2.0, [sorted[0]]);
        if (!keepdim) return norm;
        using (norm) return norm.reshape([.. lead, .. Enumerable.Repeat(1L, sorted.Length)]);
    }

    /// <summary><c>arange(count)</c>: 0, 1, …, count − 1 (TorchSharp's one-argument form converts its start inside).</summary>
    public static Tensor Arange(long count, ScalarType dtype = ScalarType.Int64, Device? device = null)
    {
        using var stop = count.ToScalar();
        return arange(Zero, stop, One, dtype, device);
    }
}
