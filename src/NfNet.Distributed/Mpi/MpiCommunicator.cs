using System.Text;

namespace NfNet.Distributed.Mpi;

/// <summary>
/// <see cref="ICommunicator"/> over Open MPI's <c>MPI_COMM_WORLD</c> (the ranks <c>mpirun</c> or <c>srun</c> started):
/// MPI_Barrier, MPI_Bcast, in-place MPI_Allreduce (MPI_SUM) and MPI_Allgather, on pinned host buffers. Initialises
/// MPI (MPI_THREAD_SERIALIZED) unless the process already did, and finalises it on <see cref="Dispose"/>. With Open
/// MPI's default error handler a failed call or a dead peer terminates the job rather than returning.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    // MPI counts are C ints: larger buffers go in chunks.
    private const int MaxCount = 1 << 30;
    private readonly OpenMpiLibrary _mpi;
    private readonly bool _initializedHere;
    private bool _disposed;

    /// <summary>Opens Open MPI and joins <c>MPI_COMM_WORLD</c>.</summary>
    /// <exception cref="DistributedSetupException">Open MPI is not installed or does not initialise.</exception>
    public MpiCommunicator()
    {
        _mpi = OpenMpiLibrary.Open();
        int initialized;
        OpenMpiLibrary.Check(_mpi.Initialized(&initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            int provided;
            var code = _mpi.InitThread(null, null, OpenMpiLibrary.ThreadSerialized, &provided);
            if (code != OpenMpiLibrary.Success)
                throw new DistributedSetupException($"MPI_Init_thread failed with code {code}: start the ranks with mpirun (as root add --allow-run-as-root)");
            _initializedHere = true;
        }
        int rank, size;
        OpenMpiLibrary.Check(_mpi.CommRank(_mpi.CommWorld, &rank), "MPI_Comm_rank");
        OpenMpiLibrary.Check(_mpi.CommSize(_mpi.CommWorld, &size), "MPI_Comm_size");
        (Rank, WorldSize) = (rank, size);
        var version = new byte[8192];
        int length;
        fixed (byte* v = version) _mpi.GetLibraryVersion(v, &length);
        Backend = Encoding.ASCII.GetString(version, 0, Math.Max(0, length)).Split(',', '\n')[0].Trim();
    }

    /// <inheritdoc />
    public int Rank { get; }
    /// <inheritdoc />
    public int WorldSize { get; }
    /// <inheritdoc />
    public string Backend { get; }

    /// <inheritdoc />
    public void Barrier()
    {
        ThrowIfDisposed();
        OpenMpiLibrary.Check(_mpi.BarrierFn(_mpi.CommWorld), "MPI_Barrier");
    }

    /// <inheritdoc />
    public void Broadcast(Span<byte> buffer, int root = 0)
    {
        ThrowIfDisposed();
        CheckRoot(root);
        fixed (byte* p = buffer)
            for (var at = 0; at < buffer.Length; at += MaxCount)
                OpenMpiLibrary.Check(_mpi.Bcast(p + at, Math.Min(MaxCount, buffer.Length - at), _mpi.Byte, root, _mpi.CommWorld), "MPI_Bcast");
    }

    /// <inheritdoc />
    public void AllReduceSum(Span<float> buffer)
    {
        ThrowIfDisposed();
        fixed (float* p = buffer)
            for (var at = 0; at < buffer.Length; at += MaxCount)
                OpenMpiLibrary.Check(_mpi.Allreduce((void*)OpenMpiLibrary.InPlace, p + at, Math.Min(MaxCount, buffer.Length - at), _mpi.Float, _mpi.Sum, _mpi.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc />
    public void AllReduceSum(Span<double> buffer)
    {
        ThrowIfDisposed();
        fixed (double* p = buffer)
            for (var at = 0; at < buffer.Length; at += MaxCount)
                OpenMpiLibrary.Check(_mpi.Allreduce((void*)OpenMpiLibrary.InPlace, p + at, Math.Min(MaxCount, buffer.Length - at), _mpi.Double, _mpi.Sum, _mpi.CommWorld), "MPI_Allreduce");
    }

    /// <summary>In-place sum of float32 values at <paramref name="data"/> (a pinned or native buffer of
    /// <paramref name="count"/> elements, such as a CPU tensor's storage).</summary>
    public void AllReduceSum(IntPtr data, long count)
    {
        ThrowIfDisposed();
        var p = (float*)data;
        for (long at = 0; at < count; at += MaxCount)
            OpenMpiLibrary.Check(_mpi.Allreduce((void*)OpenMpiLibrary.InPlace, p + at, (int)Math.Min(MaxCount, count - at), _mpi.Float, _mpi.Sum, _mpi.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc />
    public long[] AllGather(long value)
    {
        ThrowIfDisposed();
        var result = new long[WorldSize];
        fixed (long* r = result)
            OpenMpiLibrary.Check(_mpi.Allgather(&value, 1, _mpi.Int64, r, 1, _mpi.Int64, _mpi.CommWorld), "MPI_Allgather");
        return result;
    }

    /// <inheritdoc />
    public void Abort(int exitCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        _mpi.AbortFn(_mpi.CommWorld, exitCode);
        Environment.Exit(exitCode); // not reached: MPI_Abort terminates every rank
    }

    /// <summary>Finalises MPI when this communicator initialised it (every rank must dispose it, as a collective).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_initializedHere) return;
        int finalized;
        _mpi.Finalized(&finalized);
        if (finalized == 0) _mpi.Finalize();
    }

    private void CheckRoot(int root)
    {
        if (root < 0 || root >= WorldSize) throw new ArgumentOutOfRangeException(nameof(root), root, $"root must be a rank in 0..{WorldSize - 1}");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
