using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Data;

/// <summary>
/// Fashion-MNIST (Xiao et al. 2017, MIT licence) from IDX files: 60,000 training and 10,000 test images, 28×28 grey,
/// 10 classes. On Debian/Ubuntu the <c>dataset-fashion-mnist</c> package installs them in <see cref="DebianDirectory"/>
/// (the project's set-up script does). Nothing is downloaded.
/// </summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package puts the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";
    /// <summary>Mean of the training pixels on [0, 1].</summary>
    public const double Mean = 0.2860;
    /// <summary>Standard deviation of the training pixels on [0, 1].</summary>
    public const double Std = 0.3530;
    /// <summary>Class names, by label.</summary>
    public static readonly IReadOnlyList<string> Classes =
        new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

    /// <summary>Loads one split (<c>train</c> or <c>t10k</c>) from <paramref name="directory"/>, normalized and
    /// zero-padded by <paramref name="pad"/> pixels a side (2 gives 32×32).</summary>
    /// <exception cref="FileNotFoundException">The files are missing (the message says how to install them).</exception>
    /// <exception cref="IdxFormatException">A file is corrupt, or images and labels disagree.</exception>
    public static TensorDataSource Load(string directory, string split, int pad = 2, long? limit = null)
    {
        var images = Find(directory, $"{split}-images-idx3-ubyte");
        var labels = Find(directory, $"{split}-labels-idx1-ubyte");
        var (shape, pixels) = IdxFile.Read(images, 3);
        var (labelShape, labelBytes) = IdxFile.Read(labels, 1);
        if (labelShape[0] != shape[0]) throw new IdxFormatException(labels, $"{labelShape[0]} labels for {shape[0]} images");
        if (labelBytes.Any(b => b >= Classes.Count)) throw new IdxFormatException(labels, "label outside 0..9");
        var n = (int)Math.Min(limit ?? shape[0], shape[0]);
        using var scope = NewDisposeScope();
        using var mean = Mean.ToScalar();
        var x = tensor(pixels.AsSpan(0, n * shape[1] * shape[2]).ToArray(), new long[] { n, 1, shape[1], shape[2] })
            .to(ScalarType.Float32).DividedByInPlace(255.0).sub_(mean).DividedByInPlace(Std);
        if (pad > 0) x = nn.functional.pad(x, new long[] { pad, pad, pad, pad }, value: -Mean / Std); // pad with black
        var y = tensor(labelBytes.AsSpan(0, n).ToArray().Select(b => (long)b).ToArray());
        return new TensorDataSource(x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    /// <summary>The IDX file <paramref name="name"/> (or its .gz) in <paramref name="directory"/>.</summary>
    internal static string Find(string directory, string name)
    {
        foreach (var candidate in new[] { name, name + ".gz" })
        {
            var path = Path.Combine(directory, candidate);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException(
            $"Fashion-MNIST file {name}[.gz] not found in {directory}. On Debian/Ubuntu run ./scripts/setup.sh (it installs the " +
            "dataset-fashion-mnist package), or pass --data DIR with the four IDX files.", Path.Combine(directory, name));
    }
}
