using System.Text.Json;
using NfNet.Models;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Onnx.Tests;

/// <summary>
/// Every NormFreeNet switch exports: the family fixtures (ECA, RegNet blocks with the attention on the bottleneck, γ in
/// the convolutions, no skipinit, the 3×3 and 7×7-with-pool stems, no final conv) run in ONNX Runtime and give timm's
/// float64 logits, on the even and the odd input.
/// </summary>
public sealed class FamilyExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-family-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fixture(string fixture, string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "family", fixture, file);

    [Theory]
    [InlineData("test_nfnet")]
    [InlineData("tiny-eca-nfnet")]
    [InlineData("tiny-nfnet-f")]
    [InlineData("tiny-nf-regnet")]
    [InlineData("tiny-nf-resnet")]
    public void TheFixtureInOnnxRuntimeGivesTimmsLogits(string fixture)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Fixture(fixture, "config.json")));
        var config = NFNetConfig.FromTimm(document.RootElement.GetProperty("nfcfg").GetRawText(), fixture) with
        {
            NumClasses = document.RootElement.GetProperty("num_classes").GetInt32(),
        };
        using var model = new NFNet(config);
        model.LoadSafetensors(Fixture(fixture, "weights.safetensors"), strict: true);
        model.eval();
        var inputs = SafetensorsReader.Load(Fixture(fixture, "input.safetensors"));
        var expected = SafetensorsReader.Load(Fixture(fixture, "expected.safetensors"));
        try
        {
            foreach (var (input, logits) in new[] { ("input", "logits_f64"), ("input_odd", "logits_odd_f64") })
            {
                var size = (int)inputs[input].shape[^1];
                var path = Path.Combine(_dir, $"{fixture}-{size}.onnx");
                model.ExportOnnx(path, size, size);
                var actual = OnnxExportTests.RunOnnx(path, inputs[input], out var shape);
                Assert.Equal(expected[logits].shape, shape);
                var scale = Math.Max(1.0, expected[logits].abs().max().ReadDouble());
                var error = OnnxExportTests.MaxAbs(actual, expected[logits]);
                Assert.True(error <= 1e-4 * scale, $"{input}: max |timm - ONNX Runtime| = {error:E3} (scale {scale:F2})");
            }
        }
        finally
        {
            foreach (var t in inputs.Values.Concat(expected.Values)) t.Dispose();
        }
    }

    [Theory]
    [InlineData(GlobalPool.Max, 5)]
    [InlineData(GlobalPool.AvgMax, 5)]
    [InlineData(GlobalPool.CatAvgMax, 5)]
    [InlineData(GlobalPool.CatAvgMax, 0)]   // the pooled features themselves: twice the width
    public void EveryGlobalPoolExportsAsTorchSharpComputesIt(GlobalPool pool, int classes)
    {
        TorchSharp.torch.manual_seed(9);
        using var model = ModelRegistry.Create("test_nfnet", new ModelOptions { NumClasses = classes });
        model.ResetClassifier(classes, pool);
        model.eval();
        using var x = TorchSharp.torch.randn(2, 3, 64, 64);
        using var _ = TorchSharp.torch.no_grad();
        using var expected = model.forward(x);
        var path = Path.Combine(_dir, $"pool-{pool}-{classes}.onnx");
        model.ExportOnnx(path, 64, 64);
        var actual = OnnxExportTests.RunOnnx(path, x, out var shape);
        Assert.Equal(expected.shape, shape);
        var error = OnnxExportTests.MaxAbs(actual, expected);
        Assert.True(error <= 1e-4 * Math.Max(1.0, expected.abs().max().ReadDouble()), $"max |TorchSharp - ONNX Runtime| = {error:E3}");
    }

    [Fact]
    public void ADilatedBackboneIsRefusedByNameNotWrittenWrong()
    {
        var config = (NFNetConfig)ModelRegistry.Configure("test_nfnet") with { OutputStride = 16 };
        using var model = new NFNet(config);
        model.eval();
        var path = Path.Combine(_dir, "dilated.onnx");
        var error = Assert.Throws<OnnxExportException>(() => model.ExportOnnx(path, 64, 64));
        Assert.Contains("dilation", error.Message);
        Assert.False(File.Exists(path));
    }
}
