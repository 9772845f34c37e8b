using NfNet.Training.Data;

namespace NfNet.Training.Tests;

internal static class Slice
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "fashion-mnist-slice");
    public static TensorDataSource Train(long? limit = null) => FashionMnist.Load(Directory, "train", limit: limit);
    public static TensorDataSource Test(long? limit = null) => FashionMnist.Load(Directory, "t10k", limit: limit);
}
