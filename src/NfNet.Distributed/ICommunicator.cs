namespace NfNet.Distributed;

/// <summary>
/// The collective operations data-parallel training needs, over the processes ("ranks") of one run. Every rank must
/// call the same collectives in the same order with buffers of the same length: that is the contract of MPI (and of
/// NCCL, which a CUDA backend would implement this interface with: ncclAllReduce on device buffers, a communicator
/// made from an id broadcast by rank 0, one CUDA stream per rank). Buffers are host memory here.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's rank, 0 ≤ rank &lt; <see cref="WorldSize"/>.</summary>
    int Rank { get; }

    /// <summary>Number of processes.</summary>
    int WorldSize { get; }

    /// <summary>What carries the messages (<c>single process</c>, <c>Open MPI 4.1.4</c>, …).</summary>
    string Backend { get; }

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>Copies <paramref name="buffer"/> from rank <paramref name="root"/> to every rank.</summary>
    void Broadcast(Span<byte> buffer, int root = 0);

    /// <summary>Replaces <paramref name="buffer"/> with the element-wise sum over all ranks (in place).</summary>
    void AllReduceSum(Span<float> buffer);

    /// <summary>Replaces <paramref name="buffer"/> with the element-wise sum over all ranks (in place).</summary>
    void AllReduceSum(Span<double> buffer);

    /// <summary>Every rank's <paramref name="value"/>, by rank.</summary>
    long[] AllGather(long value);

    /// <summary>Stops every rank of the run at once (MPI_Abort) with <paramref name="exitCode"/>: what a rank does when
    /// it fails, so that the others do not wait for it forever in a collective.</summary>
    void Abort(int exitCode);
}
