using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

public sealed class ExponentialMovingAverageTests
{
    [Fact]
    public void MatchesAHandComputationWithTheWarmupRule()
    {
        var model = nn.Linear(2, 1);
        using (no_grad())
        {
            model.weight!.copy_(tensor(new float[,] { { 1, 2 } }));
            model.bias!.copy_(tensor(new float[] { 0 }));
        }
        using var ema = new ExponentialMovingAverage(model, decay: 0.5);
        // By hand: d_0 = min(0.5, 1/10) = 0.1, d_1 = min(0.5, 2/11) = 0.181818…, d_2 = min(0.5, 3/12) = 0.25,
        // d_3..: (4/13 = 0.3077), (5/14 = 0.357), (6/15 = 0.4), (7/16 = 0.4375), (8/17 = 0.4706), (9/18 = 0.5) → 0.5.
        double[] ws = { 3, -1, 4, 10 };
        double expected = 1; // weight[0,0] starts at 1
        for (var t = 0; t < ws.Length; t++)
        {
            using (no_grad()) model.weight![0, 0] = ws[t];
            ema.Update(model);
            var d = Math.Min(0.5, (1.0 + t) / (10.0 + t));
            expected = d * expected + (1 - d) * ws[t];
        }
        // expected = 0.1·1 + 0.9·3 = 2.8; then 2/11·2.8 + 9/11·(−1) = −0.3091; then 0.25·(−0.3091) + 0.75·4 = 2.9227;
        // then 4/13·2.9227 + 9/13·10 = 7.8224.
        Assert.Equal(7.822377622, expected, 8);
        Assert.Equal(expected, ema.StateDict()["weight"][0, 0].ReadDouble(), 5);
        Assert.Equal(0.5, ema.DecayAt(100));
        Assert.Equal(4, ema.UpdateCount);
    }

    [Fact]
    public void ApplyToSwapsTheAverageInAndRestoresTheTrainedWeightsExactly()
    {
        manual_seed(1);
        var model = nn.Linear(4, 3);
        using var ema = new ExponentialMovingAverage(model, 0.9, warmup: false);
        using (no_grad()) foreach (var p in model.parameters()) p.PlusInPlace(1.0);
        ema.Update(model);
        var trained = model.weight!.detach().clone();
        var average = ema.StateDict()["weight"].clone();
        using (ema.ApplyTo(model))
            Assert.True(model.weight!.detach().eq(average).all().ReadBoolean());
        Assert.True(model.weight!.detach().eq(trained).all().ReadBoolean());
        // 0.9·w0 + 0.1·(w0 + 1) = w0 + 0.1
        Assert.True((average - trained).Plus(0.9).abs().max().ReadDouble() < 1e-6);
    }

    [Fact]
    public void Bf16ModelsKeepAFloat32Shadow()
    {
        var model = nn.Linear(4, 3).to(ScalarType.BFloat16);
        using var ema = new ExponentialMovingAverage(model);
        Assert.Equal(ScalarType.Float32, ema.StateDict()["weight"].dtype);
        ema.Update(model);
        ema.CopyTo(model);
        Assert.Equal(ScalarType.BFloat16, model.weight!.dtype);
    }

    [Fact]
    public void StateRoundTripsAndMismatchedModelsAreRejected()
    {
        var model = nn.Linear(4, 3);
        using var ema = new ExponentialMovingAverage(model, 0.99);
        ema.Update(model);
        using var other = new ExponentialMovingAverage(nn.Linear(4, 3), 0.99);
        other.LoadStateDict(ema.StateDict(), ema.UpdateCount);
        Assert.Equal(1, other.UpdateCount);
        Assert.True(other.StateDict()["weight"].eq(ema.StateDict()["weight"]).all().ReadBoolean());
        Assert.Throws<ArgumentException>(() => ema.Update(nn.Linear(5, 3)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExponentialMovingAverage(model, 1.0));
    }
}
