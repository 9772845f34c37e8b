using Xunit;

namespace NfNet.Distributed.Tests;

/// <summary>Without a launcher everything is a world of one; with one, its variables say rank and size.</summary>
public class LaunchTests
{
    [Fact]
    public void LaunchersAreRecognisedByTheirVariables()
    {
        LaunchEnvironment From(params (string Key, string Value)[] vars) =>
            LaunchEnvironment.From(k => vars.FirstOrDefault(v => v.Key == k).Value);
        Assert.Equal(new LaunchEnvironment("mpirun", 3, 4), From(("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_RANK", "3")));
        Assert.Equal(new LaunchEnvironment("srun", 1, 8), From(("PMIX_RANK", "1"), ("SLURM_JOB_ID", "77"), ("SLURM_NTASKS", "8")));
        Assert.Equal(new LaunchEnvironment("srun", 5, 6), From(("SLURM_PROCID", "5"), ("SLURM_NTASKS", "6")));
        Assert.False(From(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")).IsLaunched); // a plain one-task Slurm job
        Assert.False(From().IsLaunched);
    }

    [Fact]
    public void WithoutMpirunTheWorkerIsAWorldOfOne()
    {
        var result = Mpi.RunAlone(Mpi.Worker, "collectives");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(new[] { "1 single process" }, result.Values("world"));
        Assert.Equal(new[] { "ok" }, result.Values("collectives"));
        using var single = Communicator.FromEnvironment();
        Assert.IsType<SingleProcessCommunicator>(single);
        var values = new[] { 1.5f, 2 };
        single.AllReduceSum(values);
        Assert.Equal(new[] { 1.5f, 2 }, values);
        Assert.Equal(new[] { 9L }, single.AllGather(9));
    }

    [Fact]
    public void AMissingOpenMpiNamesThePackagesToInstall()
    {
        var e = Assert.Throws<DistributedSetupException>(() => global::NfNet.Distributed.Mpi.OpenMpiLibrary.Open("libmpi-not-installed.so.40"));
        Assert.Contains("apt-get install openmpi-bin libopenmpi3", e.Message);
        Assert.Contains("libmpi-not-installed.so.40", e.Message);
    }

    [Fact]
    public void GradientBucketsFollowDdpsLayout()
    {
        using var model = TorchSharp.torch.nn.Sequential(
            ("a", TorchSharp.torch.nn.Linear(100, 100)), ("b", TorchSharp.torch.nn.Linear(100, 10)));
        // Reverse order: b.bias (10), b.weight (1,000), a.bias (100), a.weight (10,000) float32 values; a bucket closes
        // once it holds at least the bucket size. 25 MB: one bucket. 4,000 B: {b.bias, b.weight} (4,040 B) and
        // {a.bias, a.weight}. 100 B: {b.bias, b.weight}, {a.bias} (400 B), {a.weight}.
        using var wide = new GradientAverager(model, new SingleProcessCommunicator());
        Assert.Equal((1, 4, 11_110L), (wide.BucketCount, wide.Parameters, wide.Elements));
        using var middle = new GradientAverager(model, new SingleProcessCommunicator(), bucketBytes: 4_000);
        Assert.Equal(2, middle.BucketCount);
        using var narrow = new GradientAverager(model, new SingleProcessCommunicator(), bucketBytes: 100);
        Assert.Equal(3, narrow.BucketCount);
        // Part of a model (the overlap prototype averages one stage at a time): layer a alone, a.bias then a.weight.
        using var part = new GradientAverager(((TorchSharp.torch.nn.Module)model[0]).parameters(), new SingleProcessCommunicator(), bucketBytes: 100);
        Assert.Equal((2, 2, 10_100L), (part.BucketCount, part.Parameters, part.Elements));
        Assert.Equal(TorchSharp.torch.ScalarType.Float64, GradientAverager.ReduceType(TorchSharp.torch.ScalarType.Float64));
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, GradientAverager.ReduceType(TorchSharp.torch.ScalarType.BFloat16));
    }
}
