using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// Streams a contiguous CPU tensor's memory to or from a stream through bounded views (16 MB), so no intermediate array
/// is needed and no array has to fit the 2 GB span limit. Shared by the safetensors reader and writer and the npy reader.
/// </summary>
internal static class TensorBytes
{
    private const long ChunkBytes = 16 << 20;

    private delegate bool ChunkAction(Span<byte> chunk);

    /// <summary>Fills <paramref name="tensor"/> (contiguous, CPU) from <paramref name="stream"/>.</summary>
    /// <returns>False when the stream ended before the tensor was full.</returns>
    public static bool ReadFrom(Tensor tensor, Stream stream) =>
        ForEachChunk(tensor, chunk => stream.ReadAtLeast(chunk, chunk.Length, throwOnEndOfStream: false) == chunk.Length);

    /// <summary>Writes <paramref name="tensor"/>'s bytes (contiguous, CPU) to <paramref name="stream"/>.</summary>
    public static void WriteTo(Tensor tensor, Stream stream) =>
        ForEachChunk(tensor, chunk => { stream.Write(chunk); return true; });

    private static bool ForEachChunk(Tensor tensor, ChunkAction action)
    {
        var count = tensor.numel();
        if (count == 0) return true;
        long elementSize = SafetensorsDType.SizeOf(tensor.dtype);
        var perChunk = Math.Max(1, ChunkBytes / elementSize);
        using var flat = tensor.view(-1);
        for (long start = 0; start < count; start += perChunk)
        {
            using var part = flat.narrow(0, start, Math.Min(perChunk, count - start));
            if (!action(part.bytes)) return false;
        }
        return true;
    }
}
