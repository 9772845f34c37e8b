using System.Runtime.InteropServices;

namespace NfNet.IO;

/// <summary>
/// Reads an image file that may be anything: only a regular file (after following links) is opened, so a FIFO cannot
/// hang a run and a link to <c>/dev/zero</c> cannot stream without end; its size is capped; and no more bytes than the
/// file had when it was checked are read. Compiled into both packages that read images (NfNet.Training and
/// NfNet.Onnx.Runtime, which shares no assembly with it), so that both refuse the same files.
/// </summary>
internal static class ImageFileReader
{
    /// <summary>The largest image file read by default: 256 MiB (a 100-megapixel PNG is about 300 MB raw, far less encoded).</summary>
    public const long DefaultMaxBytes = 256L << 20;

    /// <summary>The most pixels a decoded image may have: 2²⁸ (16384 × 16384), 1 GiB as RGBA.</summary>
    public const long MaxPixels = 1L << 28;

    /// <summary>The file's bytes, or the reason it is refused (the caller wraps it in its own typed exception).</summary>
    public static byte[] Read(string path, long maxBytes, Func<string, Exception> refuse)
    {
        ArgumentNullException.ThrowIfNull(path);
        var kind = FileKind(path);
        if (kind is not null) throw refuse(kind);
        long length;
        try { length = new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw refuse($"the file cannot be read ({e.Message})"); }
        if (length > maxBytes) throw refuse($"the file is {length:N0} bytes, more than the {maxBytes:N0} an image may have");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            var bytes = new byte[length];
            stream.ReadExactly(bytes);
            if (stream.ReadByte() >= 0) throw refuse($"the file grew while it was read (it was {length:N0} bytes)");
            return bytes;
        }
        catch (EndOfStreamException) { throw refuse($"the file shrank while it was read (it was {length:N0} bytes)"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw refuse($"the file cannot be read ({e.Message})"); }
    }

    /// <summary>The reason a decoded size is refused, or null: sizes must be positive and at most <see cref="MaxPixels"/>.</summary>
    public static string? ImplausibleSize(int width, int height) =>
        width <= 0 || height <= 0 || (long)width * height > MaxPixels
            ? $"implausible image size {width}x{height} (at most {MaxPixels:N0} pixels)" : null;

    // Null for a regular file (links followed), else what it is. Where stat is not available the file counts as regular.
    private static string? FileKind(string path)
    {
        if (OperatingSystem.IsWindows())
            return Directory.Exists(path) ? "a folder, not an image file" : File.Exists(path) ? null : "the file cannot be read: no such file";
        var mode = StatMode(path);
        if (mode is null) return File.Exists(path) ? null : "the file cannot be read: no such file";
        return (mode.Value & 0xF000) switch
        {
            0x8000 => null,
            0 => "the file cannot be read: no such file",
            0x4000 => "a folder, not an image file",
            0x1000 => "a FIFO (named pipe), not an image file: reading it could wait for ever",
            0x2000 => "a character device (such as /dev/zero), not an image file",
            0x6000 => "a block device, not an image file",
            0xC000 => "a socket, not an image file",
            var other => $"not a regular file (mode {other:x})",
        };
    }

    // st_mode from stat(2), which follows links; null where the layout is not known here or the call failed for a reason
    // other than a missing file (then the caller's own open reports it).
    private static uint? StatMode(string path)
    {
        var offset = OperatingSystem.IsLinux()
            ? RuntimeInformation.ProcessArchitecture switch { Architecture.X64 => 24, Architecture.Arm64 => 16, _ => -1 }
            : OperatingSystem.IsMacOS() ? 4 : -1;
        if (offset < 0) return null;
        var buffer = new byte[256];
        int rc;
        try { rc = OperatingSystem.IsMacOS() ? MacStat(path, buffer) : Stat(path, buffer); }
        catch (DllNotFoundException) { return null; }
        catch (EntryPointNotFoundException)
        {
            if (!OperatingSystem.IsLinux()) return null;
            // glibc before 2.33 exports stat only as __xstat (version 1 on x86-64, 0 on arm64).
            try { rc = XStat(RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 1 : 0, path, buffer); }
            catch (EntryPointNotFoundException) { return null; }
        }
        if (rc != 0) return Marshal.GetLastPInvokeError() == 2 ? 0u : null; // ENOENT: 0, "not a regular file"
        return OperatingSystem.IsMacOS() ? BitConverter.ToUInt16(buffer, offset) : BitConverter.ToUInt32(buffer, offset);
    }

    [DllImport("libc.so.6", EntryPoint = "stat", SetLastError = true)]
    private static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);

    [DllImport("/usr/lib/libSystem.dylib", EntryPoint = "stat", SetLastError = true)]
    private static extern int MacStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);

    [DllImport("libc.so.6", EntryPoint = "__xstat", SetLastError = true)]
    private static extern int XStat(int version, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);
}
