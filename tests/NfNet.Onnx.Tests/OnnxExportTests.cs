using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using NfNet.Layers;
using NfNet.Models;
using NfNet.Testing;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace NfNet.Onnx.Tests;

/// <summary>
/// Exported NFNets run in ONNX Runtime (the real client) and give TorchSharp's eval outputs and timm's fixture logits;
/// the graph holds no weight-standardization arithmetic; bad requests are typed errors and leave no file.
/// </summary>
public sealed class OnnxExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-nfnet", name);

    private static readonly NFNetConfig Tiny = new()
    {
        Name = "tiny-nfnet", Widths = new[] { 32, 64, 96, 128 }, Depths = new[] { 1, 2, 3, 2 }, StemWidth = 16, GroupWidth = 16,
        NumClasses = 10, DropRate = 0.0, StochasticDepthRate = 0.0,
    };

    internal static float[] RunOnnx(string path, Tensor input, out long[] shape)
    {
        using var session = new InferenceSession(path);
        var x = input.to(ScalarType.Float32).contiguous();
        var dense = new DenseTensor<float>(x.data<float>().ToArray(), x.shape.Select(d => (int)d).ToArray());
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), dense) });
        var output = results.Single().AsTensor<float>();
        shape = output.Dimensions.ToArray().Select(d => (long)d).ToArray();
        return output.ToArray();
    }

    private static Dictionary<string, string> ExportedMetadata(NFNet model)
    {
        using (model)
        {
            model.eval();
            return OnnxExporter.Build(model, 32, 32, new OnnxExportOptions()).MetadataProps.ToDictionary(m => m.Key, m => m.Value);
        }
    }

    internal static double MaxAbs(float[] a, Tensor reference) =>
        NanAware.MaxAbsDifference(a.Select(v => (double)v).ToArray(), reference.to(ScalarType.Float64).contiguous().data<double>().ToArray());

    [Theory]
    [InlineData("input", "logits", 64)]
    [InlineData("input_odd", "logits_odd", 67)]   // odd size: asymmetric SAME pads and ceil-mode pooling at the edges
    public void TheTimmFixtureExportedToOnnxReproducesTimmsLogits(string input, string logits, int size)
    {
        using var model = new NFNet(Tiny);
        model.LoadSafetensors(Fixture("weights.safetensors"));
        model.eval();
        var path = Path.Combine(_dir, $"tiny-{size}.onnx");
        model.ExportOnnx(path, size, size);
        var inputs = SafetensorsReader.Load(Fixture("input.safetensors"));
        var expected = SafetensorsReader.Load(Fixture("expected.safetensors"));
        var actual = RunOnnx(path, inputs[input], out var shape);
        Assert.Equal(expected[logits].shape, shape);
        var error = MaxAbs(actual, expected[logits]);
        Assert.True(error <= 1e-4, $"max |timm - ONNX Runtime| = {error:E3}");
    }

    [Theory]
    [InlineData(1, 20)]
    [InlineData(3, 20)]
    [InlineData(3, 17)]   // GELU as its Erf formula
    public void OnnxRuntimeEqualsTorchSharpEvalAtAnyBatch(int batch, int opset)
    {
        manual_seed(11);
        using var model = new NFNet(Tiny with { NumClasses = 7 });
        // Non-trivial residual gains and gains, so every folded constant matters.
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.EndsWith("skipinit_gain") || name.EndsWith(".gain")) p.uniform_(0.3, 1.2);
        model.eval();
        var path = Path.Combine(_dir, $"random-{batch}-{opset}.onnx");
        model.ExportOnnx(path, 48, 40, new OnnxExportOptions { Opset = opset });
        using var x = randn(batch, 3, 48, 40);
        using var reference = model.forward(x);
        var actual = RunOnnx(path, x, out var shape);
        Assert.Equal(reference.shape, shape);
        var error = MaxAbs(actual, reference);
        Assert.True(error <= 1e-4, $"batch {batch}, opset {opset}: max |TorchSharp - ONNX Runtime| = {error:E3}");
    }

    [Fact]
    public void TheGraphHoldsNoWeightStandardizationArithmetic()
    {
        using var model = new NFNet(Tiny);
        model.eval();
        var proto = OnnxExporter.Build(model, 64, 64, new OnnxExportOptions());
        var ops = proto.Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        // Standardization would need ReduceMean, Sub, Pow/Sqrt and Div; none is there.
        foreach (var op in new[] { "ReduceMean", "Sub", "Pow", "Sqrt", "Div", "BatchNormalization", "Dropout" }) Assert.False(ops.ContainsKey(op), op);
        // One Conv per WS conv (4 stem, 8 blocks × (conv1, conv2, conv2b, conv3) + 4 shortcuts, final) and two per SE.
        Assert.Equal(4 + 8 * 4 + 4 + 1 + 8 * 2, ops["Conv"]);
        Assert.Equal(3 + 8 * 4 + 1, ops["Gelu"]);
        Assert.Equal(3, ops["AveragePool"]);   // the stride-2 shortcuts
        Assert.Equal("20", proto.OpsetImport.Single().Version.ToString());
        Assert.Contains(proto.MetadataProps, m => m.Key == "nfnet.height" && m.Value == "64");
        Assert.Equal("dm_nfnet_f0", ExportedMetadata(NFNet.Create("F0", numClasses: 2))["nfnet.registry_name"]);
    }

    [Fact]
    public void BadRequestsAreTypedErrorsAndLeaveNoFile()
    {
        using var model = new NFNet(Tiny);
        var path = Path.Combine(_dir, "bad.onnx");
        model.train();
        Assert.Contains("training mode", Assert.Throws<OnnxExportException>(() => model.ExportOnnx(path, 64, 64)).Message);
        model.eval();
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ExportOnnx(path, 0, 64));
        using var meta = new NFNet(Tiny, META);
        meta.eval();
        Assert.Contains("meta device", Assert.Throws<OnnxExportException>(() => meta.ExportOnnx(path, 64, 64)).Message);
        var unwritable = Path.Combine(_dir, "file-not-folder");
        File.WriteAllText(unwritable, "");
        Assert.Throws<OnnxExportException>(() => model.ExportOnnx(Path.Combine(unwritable, "x.onnx"), 64, 64));
        Assert.Equal(new[] { "file-not-folder" }, Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void AFullSizeF0PassesOnnxRuntimesModelCheckAndMatchesTorchSharp()
    {
        manual_seed(12);
        using var model = NFNet.Create("F0");
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.EndsWith("skipinit_gain")) p.FillInPlace(0.5);   // let every residual branch count
        model.eval();
        var path = Path.Combine(_dir, "f0.onnx");
        model.ExportOnnx(path, 64, 64);
        // float32 weights and biases and little else: gains and residual gains are folded into them.
        var stored = model.named_parameters().Where(p => !p.name.EndsWith(".gain") && !p.name.EndsWith("skipinit_gain")).Sum(p => p.parameter.numel());
        Assert.InRange(new FileInfo(path).Length, stored * 4, stored * 4 + 200_000);
        using var x = randn(2, 3, 64, 64);
        using var reference = model.forward(x);
        var actual = RunOnnx(path, x, out var shape);   // loading the session runs ONNX Runtime's model check
        Assert.Equal(reference.shape, shape);
        var error = MaxAbs(actual, reference);
        Assert.True(error <= 1e-4, $"F0 at 64 px: max |TorchSharp - ONNX Runtime| = {error:E3}");
    }
}
