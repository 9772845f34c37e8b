using Microsoft.ML;
using Microsoft.ML.Data;
using NfNet.Models;
using NfNet.Onnx.Runtime;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Onnx.Tests;

/// <summary>
/// The ML.NET example: an exported NFNet scored inside an ML.NET pipeline with <c>ApplyOnnxModel</c>
/// (Microsoft.ML.OnnxTransformer), giving the same scores as the ONNX Runtime wrapper.
/// </summary>
public sealed class MLNetScoringTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-mlnet-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class ImageRow
    {
        [ColumnName("images"), VectorType(3, 32, 32)]
        public float[] Images { get; set; } = Array.Empty<float>();
    }

    private sealed class ScoreRow
    {
        [ColumnName("logits")]
        public float[] Logits { get; set; } = Array.Empty<float>();
    }

    [Fact]
    public void AnMLNetPipelineScoresTheExportedModelAsTheOnnxRuntimeWrapperDoes()
    {
        manual_seed(41);
        using var model = new NFNet(new NFNetConfig
        {
            Name = "mlnet-test", Widths = new[] { 32, 64 }, Depths = new[] { 1, 1 }, StemWidth = 16, GroupWidth = 16, NumClasses = 5,
            DropRate = 0, StochasticDepthRate = 0,
        });
        using (no_grad()) foreach (var (name, p) in model.named_parameters()) if (name.EndsWith("skipinit_gain")) p.FillInPlace(0.6);
        model.eval();
        var onnx = Path.Combine(_dir, "model.onnx");
        model.ExportOnnx(onnx, 32, 32);

        using var images = randn(4, 3, 32, 32);
        var pixels = images.data<float>().ToArray();
        var rows = Enumerable.Range(0, 4).Select(i => new ImageRow { Images = pixels[(i * 3072)..((i + 1) * 3072)] }).ToArray();

        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        // The exported batch dimension is symbolic; ML.NET scores one row at a time, so it is given as 1.
        var pipeline = ml.Transforms.ApplyOnnxModel(outputColumnNames: new[] { "logits" }, inputColumnNames: new[] { "images" },
            modelFile: onnx, shapeDictionary: new Dictionary<string, int[]> { ["images"] = new[] { 1, 3, 32, 32 } },
            gpuDeviceId: null, fallbackToCpu: false);
        var scored = ml.Data.CreateEnumerable<ScoreRow>(pipeline.Fit(data).Transform(data), reuseRowObject: false).ToArray();

        using var classifier = new OnnxClassifier(onnx);
        var expected = classifier.Logits(pixels, 4);
        Assert.Equal(4, scored.Length);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(5, scored[i].Logits.Length);
            for (var c = 0; c < 5; c++) Assert.Equal(expected[i * 5 + c], scored[i].Logits[c], 5);
        }
    }
}
