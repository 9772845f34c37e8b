namespace NfNet.Distributed;

/// <summary>
/// How this process was started, from the variables the launchers set: Open MPI's <c>mpirun</c>/<c>mpiexec</c>
/// (<c>OMPI_COMM_WORLD_RANK</c>, <c>OMPI_COMM_WORLD_SIZE</c>), PMIx (<c>PMIX_RANK</c>, used by <c>srun --mpi=pmix</c>)
/// and Slurm (<c>SLURM_PROCID</c>, <c>SLURM_NTASKS</c>).
/// </summary>
/// <param name="Launcher">Who started the process: <c>mpirun</c>, <c>srun</c> or null (a plain start).</param>
/// <param name="Rank">The rank the launcher gave, when it says.</param>
/// <param name="WorldSize">The number of ranks the launcher started, when it says.</param>
public sealed record LaunchEnvironment(string? Launcher, int? Rank, int? WorldSize)
{
    /// <summary>Whether a launcher started several ranks (or one, under a launcher).</summary>
    public bool IsLaunched => Launcher is not null;

    /// <summary>Reads the current process's environment.</summary>
    public static LaunchEnvironment Detect() => From(Environment.GetEnvironmentVariable);

    /// <summary>Reads an environment given as a lookup (for tests).</summary>
    public static LaunchEnvironment From(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        int? Int(string name) => int.TryParse(variable(name), out var v) ? v : null;
        if (Int("OMPI_COMM_WORLD_SIZE") is { } size) return new("mpirun", Int("OMPI_COMM_WORLD_RANK"), size);
        if (Int("PMIX_RANK") is { } pmixRank) return new(variable("SLURM_JOB_ID") is null ? "mpirun" : "srun", pmixRank, Int("SLURM_NTASKS"));
        if (Int("SLURM_PROCID") is { } slurmRank && Int("SLURM_NTASKS") is { } tasks && tasks > 1) return new("srun", slurmRank, tasks);
        return new(null, null, null);
    }
}
