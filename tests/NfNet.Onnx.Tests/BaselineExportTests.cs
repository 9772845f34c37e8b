using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using NfNet.Models;
using NfNet.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace NfNet.Onnx.Tests;

/// <summary>The comparison models the exporter writes (BN-ResNet in both forms with batch norm folded, NF-ResNet), run in
/// ONNX Runtime against TorchSharp's eval outputs; the ones it does not write yet are typed errors.</summary>
public sealed class BaselineExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-onnx-baselines-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("resnet50", 1)]
    [InlineData("resnet50", 3)]
    [InlineData("resnetv2_50", 1)]
    [InlineData("resnetv2_50", 3)]
    [InlineData("dm_nf_resnet50", 1)]
    [InlineData("dm_nf_resnet50", 3)]
    [InlineData("efficientnetv2_b0", 1)]
    [InlineData("efficientnetv2_b0", 3)]
    [InlineData("efficientnetv2_s", 1)]
    [InlineData("efficientnetv2_s", 3)]
    [InlineData("coatnet_0", 1)]
    [InlineData("coatnet_0", 3)]
    public void OnnxRuntimeEqualsTorchSharpEval(string name, int batch)
    {
        manual_seed(51);
        using var model = ModelRegistry.Create(name, numClasses: 6);
        // Non-trivial batch-norm statistics and affine parameters, gains and residual gains: every folded term matters.
        using (no_grad())
            foreach (var (key, t) in model.state_dict())
            {
                if (key.EndsWith("running_mean") || key.EndsWith(".bias") && t.dim() == 1) t.uniform_(-0.2, 0.2);
                else if (key.EndsWith("running_var")) t.uniform_(0.5, 2.0);
                else if (key.EndsWith(".gain") || key.EndsWith("skipinit_gain") || t.dim() == 1 && key.EndsWith(".weight")) t.uniform_(0.5, 1.5);
            }
        model.eval();
        var path = Path.Combine(_dir, $"{name}.onnx");
        model.ExportOnnx(path, 64, 64);
        using var x = randn(batch, 3, 64, 64);
        using var reference = model.forward(x);
        using var session = new InferenceSession(path);
        var dense = new DenseTensor<float>(x.data<float>().ToArray(), new[] { batch, 3, 64, 64 });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("images", dense) });
        var actual = results.Single().AsTensor<float>().ToArray();
        var expected = reference.data<float>().ToArray();
        Assert.Equal(expected.Length, actual.Length);
        // Within 1e-4 of the logits' scale: random batch-norm statistics over EfficientNetV2-S's 40 blocks take its
        // logits to about 580, where float32 rounding alone differs by ~3e-3 between two correct runtimes (5e-6 relative).
        var scale = Math.Max(1, NanAware.Max(expected.Select(Math.Abs)));
        var error = NanAware.MaxAbsDifference(actual, expected);
        Assert.True(error <= 1e-4 * scale, $"{name}, batch {batch}: max |TorchSharp - ONNX Runtime| = {error:E3}, logits up to {scale:E3}");
        var ops = OnnxExporter.Build(model, 64, 64, new OnnxExportOptions()).Graph.Node.Select(n => n.OpType).ToHashSet();
        Assert.DoesNotContain("BatchNormalization", ops);
        Assert.DoesNotContain("ReduceMean", ops);
    }

    [Fact]
    public void AModelOfTheContractTheExporterDoesNotKnowIsATypedErrorAndCoAtNetNeedsOpset17()
    {
        using var coatnet = ModelRegistry.Create("coatnet_0", numClasses: 3);
        coatnet.eval();
        var error = Assert.Throws<OnnxExportException>(() => coatnet.ExportOnnx(Path.Combine(_dir, "x.onnx"), 64, 64, new OnnxExportOptions { Opset = 16 }));
        Assert.Contains("opset 17", error.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
