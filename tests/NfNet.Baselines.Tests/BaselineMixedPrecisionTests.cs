using NfNet.Models.Baselines;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Baselines.Tests;

/// <summary>The comparison systems run in mixed precision (float32 parameters, bf16 activations) like NFNet: the logits
/// agree with the float32 forward within bf16 tolerance.</summary>
public sealed class BaselineMixedPrecisionTests
{
    public static TheoryData<string> Models() => new() { "nf-resnet", "efficientnetv2", "coatnet", "bn-resnet" };

    private static nn.Module<Tensor, Tensor> Create(string name) => name switch
    {
        "nf-resnet" => new NFResNet(new NFResNetConfig { Depths = new[] { 1, 1 }, Widths = new[] { 16, 32 }, StemWidth = 16, StemPool = false, NumClasses = 10, InChannels = 1 }),
        "efficientnetv2" => new EfficientNetV2(new EfficientNetV2Config
        {
            StemWidth = 16, StemStride = 1, HeadWidth = 64, NumClasses = 10, InChannels = 1,
            Stages = new EfficientNetV2Stage[] { new(EfficientNetBlockKind.FusedMBConv, 4, 3, 2, 0, 24, 1), new(EfficientNetBlockKind.MBConv, 4, 3, 2, 0.25, 32, 2) },
        }),
        "coatnet" => new CoAtNet(new CoAtNetConfig { StemWidth = 16, StemStride = 1, Widths = new[] { 16, 32, 64, 64 }, Depths = new[] { 1, 1, 1, 1 }, NumClasses = 10, InChannels = 1, ImageSize = 32 }),
        _ => new BatchNormResNet(new ResNetConfig { Depths = new[] { 1, 1 }, Widths = new[] { 16, 32 }, StemWidth = 16, StemPool = false, NumClasses = 10, InChannels = 1, ZeroInitLastGamma = false }),
    };

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Models))]
    public void MixedBf16LogitsMatchFloat32(string name)
    {
        manual_seed(11);
        using var model = Create(name);
        model.eval();
        using var x = randn(4, 1, 32, 32);
        using (no_grad())
        {
            var reference = model.call(x);
            var mixed = model.call(x.to(ScalarType.BFloat16)).to(ScalarType.Float32);
            Assert.Equal(ScalarType.Float32, model.parameters().First().dtype);
            var error = (mixed - reference).abs().max().ReadDouble();
            var scale = reference.abs().max().ReadDouble();
            Assert.True(error <= 0.05 * scale + 1e-3, $"{name}: max error {error} at scale {scale}");
        }
    }
}
