using NfNet.Training.Data;

namespace NfNet.Studies;

/// <summary>What every study gets: quick or full size, where the data is and where results go.</summary>
public sealed record StudyOptions(bool Quick, string DataDirectory, string OutputDirectory, int Seed, TextWriter Log)
{
    /// <summary>Loads the first <paramref name="train"/> training and <paramref name="test"/> test images (normalized, padded to 32).</summary>
    public (TensorDataSource Train, TensorDataSource Test) Load(long train, long test) =>
        (FashionMnist.Load(DataDirectory, "train", limit: train), FashionMnist.Load(DataDirectory, "t10k", limit: test));
}
