using System.Buffers.Binary;
using System.IO.Compression;

namespace NfNet.Training.Data;

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed, detected from the content): a big-endian
/// magic <c>0x0000TTDD</c> (TT = 0x08 for unsigned bytes, DD = number of dimensions), DD big-endian int32 sizes,
/// then the data. Only unsigned-byte files are accepted, which is what both datasets use.
/// </summary>
public static class IdxFile
{
    /// <summary>Images: 3 dimensions (count, rows, columns).</summary>
    public const int ImagesMagic = 0x00000803;
    /// <summary>Labels: 1 dimension (count).</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>Reads an unsigned-byte IDX file with <paramref name="expectedDimensions"/> dimensions.</summary>
    /// <returns>The sizes and the data, row-major.</returns>
    /// <exception cref="IdxFormatException">Wrong magic, type or rank, absurd sizes, or a truncated file.</exception>
    public static (int[] Shape, byte[] Data) Read(string path, int expectedDimensions)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file not found: {path}", path);
        using var file = File.OpenRead(path);
        Span<byte> peek = stackalloc byte[2];
        var gz = file.Read(peek) == 2 && peek[0] == 0x1f && peek[1] == 0x8b;
        file.Position = 0;
        using Stream stream = gz ? new GZipStream(file, CompressionMode.Decompress) : file;
        try
        {
            var header = ReadExactly(stream, 4, path, "header");
            var magic = BinaryPrimitives.ReadInt32BigEndian(header);
            if ((magic >> 16) != 0) throw new IdxFormatException(path, $"bad magic number 0x{magic:X8} (not an IDX file)");
            if (((magic >> 8) & 0xff) != 0x08) throw new IdxFormatException(path, $"data type 0x{(magic >> 8) & 0xff:X2} is not unsigned byte (0x08)");
            var rank = magic & 0xff;
            if (rank != expectedDimensions) throw new IdxFormatException(path, $"has {rank} dimensions, expected {expectedDimensions}");
            var dims = ReadExactly(stream, 4 * rank, path, "dimension sizes");
            var shape = new int[rank];
            long total = 1;
            for (var i = 0; i < rank; i++)
            {
                shape[i] = BinaryPrimitives.ReadInt32BigEndian(dims.AsSpan(4 * i));
                if (shape[i] < 0) throw new IdxFormatException(path, $"dimension {i} is negative ({shape[i]})");
                total *= shape[i];
                if (total > int.MaxValue) throw new IdxFormatException(path, "more than 2^31 elements");
            }
            var data = ReadExactly(stream, (int)total, path, "data");
            if (stream.ReadByte() != -1) throw new IdxFormatException(path, "has trailing bytes after the data");
            return (shape, data);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(path, "corrupt gzip stream: " + e.Message);
        }
    }

    private static byte[] ReadExactly(Stream stream, int count, string path, string what)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = stream.Read(buffer, read, count - read);
            if (n == 0) throw new IdxFormatException(path, $"truncated in the {what} ({read} of {count} bytes)");
            read += n;
        }
        return buffer;
    }
}
