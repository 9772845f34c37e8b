using NfNet.Devices;
using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class DeviceSelectionTests
{
    [Theory]
    [InlineData(null, false, "cpu")]
    [InlineData(null, true, "cuda")]
    [InlineData("  ", true, "cuda")]
    [InlineData("CPU", true, "cpu")]
    [InlineData("cuda:1", true, "cuda:1")]
    [InlineData("Cuda", true, "cuda")]
    public void TheChoiceFollowsTheRequestAndWhatTheMachineHas(string? requested, bool cudaAvailable, string expected) =>
        Assert.Equal(expected, DeviceSelection.Resolve(requested, cudaAvailable));

    [Theory]
    [InlineData("cuda")]
    [InlineData("cuda:0")]
    public void CudaRequestedWithoutCudaIsAClearError(string requested)
    {
        var e = Assert.Throws<InvalidOperationException>(() => DeviceSelection.Resolve(requested, cudaAvailable: false));
        Assert.Contains("not available", e.Message);
    }

    [Theory]
    [InlineData("tpu")]
    [InlineData("cuda:x")]
    [InlineData("cuda:-1")]
    public void AnUnknownDeviceNameIsRefused(string requested) =>
        Assert.Throws<ArgumentException>(() => DeviceSelection.Resolve(requested, cudaAvailable: true));

    [Fact]
    public void BestAgreesWithTheRuleOnThisMachine() =>
        Assert.Equal(DeviceSelection.Resolve(null, cuda.is_available()), DeviceSelection.Best().type == DeviceType.CUDA ? "cuda" : "cpu");

    private static AdaptiveGradientClipping Build(nn.Module model) =>
        new(optim.SGD(model.parameters(), 0.05, momentum: 0.9, nesterov: true), AgcParameters.Except(model), 0.05);

    // This machine has one device, so the move here is CPU → CPU: what it checks is the rebuild (a new optimizer over the
    // model's current parameters) and the state carried through the decorators, bit for bit. A cross-device move runs
    // the same code with the model's parameters replaced by Module.to.
    [Fact]
    public void MoveToRebuildsTheOptimizerAndKeepsItsStateThroughDecorators()
    {
        using var x = randn(4, 1, 16, 16);
        void Step(NFNet m, optim.Optimizer o)
        {
            o.zero_grad();
            m.forward(x).Squared().mean().backward();
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
        var handles = moved.parameters().Select(p => p.Handle).ToHashSet();
        Assert.All(OptimizerDecorator.Innermost(c).parameters(), p => Assert.Contains(p.Handle, handles));
        for (var i = 0; i < 2; i++) Step(moved, c);
        foreach (var ((name, p), (_, q)) in straight.named_parameters().Zip(moved.named_parameters()))
            Assert.True(p.eq(q).all().ReadBoolean(), $"{name} differs: the momentum did not survive the move");
    }
}
