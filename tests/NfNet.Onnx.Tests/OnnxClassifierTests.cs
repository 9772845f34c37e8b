using NfNet.Models;
using NfNet.Onnx.Runtime;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Onnx.Tests;

/// <summary>The ONNX Runtime serving wrapper: metadata, batching, shape checks and top-k, without TorchSharp.</summary>
public sealed class OnnxClassifierTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-serve-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly NFNetConfig Small = new()
    {
        Name = "serve-test", Widths = new[] { 32, 64 }, Depths = new[] { 1, 1 }, StemWidth = 16, GroupWidth = 16,
        NumClasses = 4, DropRate = 0.0, StochasticDepthRate = 0.0,
    };

    private string Export(NFNet model, int height = 40, int width = 32)
    {
        var path = Path.Combine(_dir, "model.onnx");
        model.eval();
        model.ExportOnnx(path, height, width);
        return path;
    }

    [Fact]
    public void TheWrapperReadsTheMetadataAndGivesTorchSharpsLogitsForABatch()
    {
        manual_seed(21);
        using var model = new NFNet(Small);
        using (no_grad()) foreach (var (name, p) in model.named_parameters()) if (name.EndsWith("skipinit_gain")) p.FillInPlace(0.7);
        var path = Export(model);
        using var classifier = new OnnxClassifier(path, new[] { "a", "b", "c", "d" });
        Assert.Equal((40, 32, 3, 4, "serve-test"), (classifier.Height, classifier.Width, classifier.Channels, classifier.NumClasses, classifier.ModelName));
        // A custom config records its model's own preprocessing (ImageNet statistics, F0's crop).
        Assert.Equal(new[] { 0.485f, 0.456f, 0.406f }, classifier.Mean);
        Assert.Equal(0.9, classifier.CropPercent);
        using var x = randn(3, 3, 40, 32);
        using var reference = model.forward(x);
        var logits = classifier.Logits(x.data<float>().ToArray(), 3);
        var expected = reference.data<float>().ToArray();
        Assert.Equal(expected.Length, logits.Length);
        Assert.True(NanAware.MaxAbsDifference(logits, expected) <= 1e-4);
        var top = classifier.TopK(x.data<float>().ToArray(), 3, k: 2);
        Assert.Equal(3, top.Count);
        using var best = reference.argmax(1);
        Assert.Equal(best.data<long>().ToArray().Select(i => (int)i), top.Select(t => t[0].Index));
        Assert.All(top, t => Assert.Equal(new[] { "a", "b", "c", "d" }[t[0].Index], t[0].Name));
    }

    [Fact]
    public void TopKIsTheSoftmaxOfTheLogitsSortedByHand()
    {
        // softmax([1, 3, 2]) = e^(x - 3) / Σ: [0.0900306, 0.6652410, 0.2447285].
        var top = OnnxClassifier.TopK(new float[] { 1, 3, 2 }, 2, new[] { "x", "y", "z" });
        Assert.Equal(new[] { (1, "y"), (2, "z") }, top.Select(t => (t.Index, t.Name!)));
        Assert.Equal(0.6652410, top[0].Probability, 6);
        Assert.Equal(0.2447285, top[1].Probability, 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxClassifier.TopK(new float[] { 1 }, 0));
    }

    [Fact]
    public void AnInputOfTheWrongSizeIsATypedErrorSayingWhatWasExpected()
    {
        using var model = new NFNet(Small);
        using var classifier = new OnnxClassifier(Export(model));
        var error = Assert.Throws<ArgumentException>(() => classifier.Logits(new float[2 * 3 * 32 * 32], 2));
        Assert.Contains("[3, 40, 32]", error.Message);
        Assert.Throws<InvalidDataException>(() => new OnnxClassifier(Export(model), new[] { "only one name" }));
        Assert.Throws<FileNotFoundException>(() => new OnnxClassifier(Path.Combine(_dir, "missing.onnx")));
    }

    [Fact]
    public void TheServingAssemblyDoesNotReferenceTorchSharp() =>
        Assert.DoesNotContain(typeof(OnnxClassifier).Assembly.GetReferencedAssemblies(), a => a.Name!.StartsWith("TorchSharp", StringComparison.Ordinal));
}
