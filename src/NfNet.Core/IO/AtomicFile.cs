namespace NfNet.IO;

/// <summary>
/// Writes files atomically: to a temporary file in the same directory, flushed to disk, then renamed over the target,
/// so readers (and a crash mid-write) see the old file or the whole new one, never half of one. Every file the library
/// writes goes through here: checkpoints, safetensors, ONNX files, metrics and plots. One temporary-file rule holds for
/// all of them: <c>.&lt;name&gt;.tmp-&lt;pid&gt;-&lt;guid&gt;&lt;ext&gt;</c> beside the target, and every write first removes
/// the temporaries of the same target that a killed process left (<see cref="RemoveStaleTemporaries"/>).
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> with <paramref name="write"/>, atomically; creates the directory.</summary>
    /// <exception cref="IOException">The write or the rename failed; the previous file is unchanged and no temporary file is left.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        WriteVia(path, temp =>
        {
            using var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write);
            write(file);
            file.Flush(flushToDisk: true);
        });
    }

    /// <summary>Writes <paramref name="lines"/> to <paramref name="path"/> atomically (UTF-8, one per line).</summary>
    public static void WriteAllLines(string path, IEnumerable<string> lines) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            foreach (var line in lines) writer.WriteLine(line);
        });

    /// <summary>
    /// Deletes temporary files that an earlier write of <paramref name="path"/> left behind when its process was killed
    /// mid-write (SIGKILL, power loss): those of processes that no longer run. A write in progress in a live process is
    /// left alone.
    /// </summary>
    public static void RemoveStaleTemporaries(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) return;
        var prefix = $".{Path.GetFileNameWithoutExtension(full)}.tmp-";
        foreach (var temp in Directory.GetFiles(directory, prefix + "*"))
        {
            var rest = Path.GetFileName(temp)[prefix.Length..];
            var dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out var pid) || IsAlive(pid)) continue;
            try { File.Delete(temp); }
            catch (IOException) { } // another process is cleaning up too
        }
    }

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Lets <paramref name="save"/> write a temporary path of its own (for libraries that take a file name, such
    /// as a plot's PNG export), then renames it over <paramref name="path"/>.</summary>
    public static void WriteVia(string path, Action<string> save)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(save);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        RemoveStaleTemporaries(full);
        // Same directory (a rename within one file system is atomic), same extension (exporters pick the format from it).
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileNameWithoutExtension(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}{Path.GetExtension(full)}");
        try
        {
            save(temp);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
