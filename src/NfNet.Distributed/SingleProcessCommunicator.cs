namespace NfNet.Distributed;

/// <summary>A world of one: every collective is the identity. What code gets when it is not started by
/// <c>mpirun</c> or <c>srun</c>, so the same program runs unchanged on one process.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    /// <inheritdoc />
    public int Rank => 0;
    /// <inheritdoc />
    public int WorldSize => 1;
    /// <inheritdoc />
    public string Backend => "single process";
    /// <inheritdoc />
    public void Barrier() { }
    /// <inheritdoc />
    public void Broadcast(Span<byte> buffer, int root = 0) => CheckRoot(root);
    /// <inheritdoc />
    public void AllReduceSum(Span<float> buffer) { }
    /// <inheritdoc />
    public void AllReduceSum(Span<double> buffer) { }
    /// <inheritdoc />
    public long[] AllGather(long value) => new[] { value };
    /// <inheritdoc />
    public void Abort(int exitCode) => Environment.Exit(exitCode);
    /// <inheritdoc />
    public void Dispose() { }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "a world of one has only rank 0");
    }
}
