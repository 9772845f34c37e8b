using NfNet.Distributed.Mpi;

namespace NfNet.Distributed;

/// <summary>Picks the communicator for how the process was started.</summary>
public static class Communicator
{
    /// <summary>
    /// Open MPI when a launcher (<c>mpirun</c>, <c>srun --mpi=pmix</c>) started this process, else a world of one — so
    /// the same program runs with and without <c>mpirun</c>.
    /// </summary>
    /// <exception cref="DistributedSetupException">Started by a launcher, but Open MPI cannot be loaded or initialised
    /// (the message says which Debian packages to install), or it reports another world size than the launcher.</exception>
    public static ICommunicator FromEnvironment()
    {
        var launch = LaunchEnvironment.Detect();
        if (!launch.IsLaunched) return new SingleProcessCommunicator();
        var mpi = new MpiCommunicator();
        if (launch.WorldSize is { } size && size != mpi.WorldSize)
        {
            mpi.Dispose();
            throw new DistributedSetupException($"{launch.Launcher} started {size} ranks but MPI_COMM_WORLD has {mpi.WorldSize}: " +
                "the program was probably launched by one MPI and linked against another (NfNet.Distributed uses Open MPI 4, libmpi.so.40)");
        }
        return mpi;
    }
}
