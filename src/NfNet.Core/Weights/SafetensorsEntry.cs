using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>One tensor's header entry in a safetensors file.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DType">TorchSharp element type.</param>
/// <param name="Shape">Shape (empty for a scalar).</param>
/// <param name="Begin">Start of its bytes, relative to the end of the header.</param>
/// <param name="End">End of its bytes (exclusive), relative to the end of the header.</param>
public sealed record SafetensorsEntry(string Name, ScalarType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Element count (1 for a scalar).</summary>
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Byte count.</summary>
    public long ByteCount => End - Begin;
}
