using NfNet.Devices;
using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

public sealed class MixedPrecisionTests
{
    [Fact]
    public void Bf16InputsGiveFloat32LogitsAndGradientsOnFloat32Weights()
    {
        using var model = TestFixtures.LoadTiny();
        model.train();
        using var x = randn(4, 3, 32, 32);
        using var logits = model.forward(x.to(Precision.ComputeType(PrecisionMode.MixedBFloat16)));
        Assert.Equal(ScalarType.Float32, logits.dtype);                 // the classifier casts back to its fp32 weights
        logits.sum().backward();
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.grad!.dtype));
    }

    [Fact]
    public void AMixedBf16SgdStepTracksTheFloat32StepWithinBf16Tolerance()
    {
        manual_seed(5);
        using var x = randn(8, 3, 32, 32);
        using var y = randint(0, 10, new long[] { 8 });
        Dictionary<string, Tensor> Step(ScalarType inputType)
        {
            using var model = TestFixtures.LoadTiny();
            model.train();
            var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            var sgd = optim.SGD(model.parameters(), 0.1);
            nn.functional.cross_entropy(model.forward(x.to(inputType)), y).backward();
            sgd.step();
            return model.state_dict().ToDictionary(kv => kv.Key, kv => (kv.Value - before[kv.Key]).detach().clone());
        }
        var f32 = Step(ScalarType.Float32);
        var mixed = Step(ScalarType.BFloat16);
        // The update (Δw) of every tensor agrees to bf16 precision: relative error of the whole update vector.
        var num = f32.Keys.Sum(k => (mixed[k] - f32[k]).Squared().sum().ReadDouble());
        var den = f32.Keys.Sum(k => f32[k].Squared().sum().ReadDouble());
        var relative = Math.Sqrt(num / den);
        Assert.True(relative < 0.05, $"mixed-precision update differs by {relative:P2}");
        Assert.True(den > 0);
    }

    [Fact]
    public void MismatchedPrecisionIsAClearError()
    {
        using var model = TestFixtures.LoadTiny(ScalarType.BFloat16);
        using var x = randn(1, 3, 32, 32);                             // float32 into a bf16 model: not a mixed mode
        var e = Assert.Throws<InvalidInputException>(() => model.forward(x));
        Assert.Contains("BFloat16", e.Message);
        Assert.True(Precision.IsMixed(ScalarType.Float32, ScalarType.BFloat16));
        Assert.False(Precision.IsMixed(ScalarType.BFloat16, ScalarType.Float32));
    }
}
