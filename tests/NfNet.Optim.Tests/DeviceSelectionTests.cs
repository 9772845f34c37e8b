using NfNet.Devices;
using NfNet.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class DeviceSelectionTests
{
    [Fact]
    public void BestIsCpuHereAndCudaRequestsAreClearErrors()
    {
        if (cuda.is_available()) return; // documents the CPU-only CI machine; on a GPU machine Best() is CUDA
        Assert.Equal(DeviceType.CPU, DeviceSelection.Best().type);
        Assert.Equal(DeviceType.CPU, DeviceSelection.Best("CPU").type);
        var e = Assert.Throws<InvalidOperationException>(() => DeviceSelection.Best("cuda:0"));
        Assert.Contains("not available", e.Message);
        Assert.Throws<ArgumentException>(() => DeviceSelection.Best("tpu"));
    }

    private static AdaptiveGradientClipping Build(nn.Module model) =>
        new(optim.SGD(model.parameters(), 0.05, momentum: 0.9, nesterov: true), AgcParameters.Except(model), 0.05);

    [Fact]
    public void MovingAModelKeepsTheOptimizerStateThroughDecorators()
    {
        using var x = randn(4, 1, 16, 16);
        void Step(NFNet m, optim.Optimizer o)
        {
            o.zero_grad();
            m.forward(x).square().mean().backward();
            o.step();
        }
        manual_seed(0);
        using var straight = new NFNet(ShortTrainingRunTests.Tiny);
        var a = Build(straight);
        for (var i = 0; i < 4; i++) Step(straight, a);

        manual_seed(0);
        using var moved = new NFNet(ShortTrainingRunTests.Tiny);
        var b = Build(moved);
        for (var i = 0; i < 2; i++) Step(moved, b);
        var c = OptimizerState.MoveTo(moved, DeviceSelection.Best("cpu"), b, Build);
        Assert.NotSame(b, c);
        for (var i = 0; i < 2; i++) Step(moved, c);
        foreach (var ((name, p), (_, q)) in straight.named_parameters().Zip(moved.named_parameters()))
            Assert.True(p.eq(q).all().ToBoolean(), $"{name} differs: the momentum did not survive the move");
    }
}
