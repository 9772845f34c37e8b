using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>The safetensors dtype names that map to a TorchSharp <see cref="ScalarType"/>, with their element sizes.</summary>
public static class SafetensorsDType
{
    private static readonly (string Name, ScalarType Type, int Size)[] Table =
    {
        ("F64", ScalarType.Float64, 8), ("F32", ScalarType.Float32, 4), ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2), ("I64", ScalarType.Int64, 8), ("I32", ScalarType.Int32, 4),
        ("I16", ScalarType.Int16, 2), ("I8", ScalarType.Int8, 1), ("U8", ScalarType.Byte, 1), ("BOOL", ScalarType.Bool, 1),
    };

    /// <summary>The TorchSharp type and element size of safetensors dtype <paramref name="name"/>, if it maps to one.</summary>
    public static bool TryParse(string name, out ScalarType type, out int elementSize)
    {
        foreach (var (n, t, s) in Table)
            if (n == name) { type = t; elementSize = s; return true; }
        type = default;
        elementSize = 0;
        return false;
    }

    /// <summary>The safetensors name of <paramref name="type"/>.</summary>
    /// <exception cref="NotSupportedException">The type has no safetensors equivalent (e.g. complex).</exception>
    public static string NameOf(ScalarType type)
    {
        foreach (var (n, t, _) in Table)
            if (t == type) return n;
        throw new NotSupportedException($"{type} has no safetensors dtype");
    }

    /// <summary>Element size in bytes of <paramref name="type"/>.</summary>
    public static int SizeOf(ScalarType type)
    {
        foreach (var (_, t, s) in Table)
            if (t == type) return s;
        throw new NotSupportedException($"{type} has no safetensors dtype");
    }

    /// <summary>All supported safetensors dtype names.</summary>
    public static IReadOnlyList<string> Names { get; } = Table.Select(e => e.Name).ToArray();
}
