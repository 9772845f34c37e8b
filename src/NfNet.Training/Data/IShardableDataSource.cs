namespace NfNet.Training.Data;

/// <summary>A data source that can be read by the ranks of a data-parallel run, each its own part (see
/// <see cref="DataShard"/>). The trainer shards its training data (padded) and evaluation data (unpadded) itself when
/// <see cref="TrainerOptions.Communicator"/> has more than one rank.</summary>
public interface IShardableDataSource : IDataSource
{
    /// <summary>The same data, of which this source yields only <paramref name="shard"/>'s part.</summary>
    IDataSource WithShard(DataShard shard);
}
