using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Testing;

/// <summary>
/// The Scalar-taking TorchSharp calls the tests need that <c>NfNet.Platform.Scalars</c> does not cover, each with a
/// Scalar it owns and disposes. A number passed where TorchSharp wants a <see cref="Scalar"/> is an implicit conversion
/// that only the finalizer frees, possibly while libtorch still reads it (the hazard the library's IL scan forbids);
/// the test hosts crashed with it, so the tests keep the library's rule too (tests/NfNet.Reliability.Tests).
/// Linked into every test project.
/// </summary>
internal static class TestScalars
{
    /// <summary><c>t.fill_(value)</c> with an owned Scalar.</summary>
    public static Tensor FillInPlace(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.fill_(s);
    }

    /// <summary><c>torch.full(shape, value, dtype)</c> with an owned Scalar.</summary>
    public static Tensor Full(long[] shape, double value, ScalarType dtype)
    {
        using var s = value.ToScalar();
        return full(shape, s, dtype: dtype);
    }

    /// <summary><c>torch.arange(start, stop)</c> (stop exclusive) with owned Scalars.</summary>
    public static Tensor Arange(long start, long stop, ScalarType dtype)
    {
        using var a = start.ToScalar();
        using var b = stop.ToScalar();
        return arange(a, b, Scalars.One, dtype);
    }
}
