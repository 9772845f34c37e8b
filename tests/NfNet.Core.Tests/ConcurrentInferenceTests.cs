using NfNet.Layers;
using NfNet.Models;
using NfNet.Testing;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// A model frozen for inference is shared by threads while weights load: into it and into another model, under forced
/// garbage collections. Before <see cref="ModelWeights"/> and the leased weight cache, a load on one thread disposed the
/// standardized weight another thread was convolving with, and the process died of heap corruption.
/// </summary>
public sealed class ConcurrentInferenceTests
{
    private const int Readers = 4, Writers = 4, ReadsEach = 25, WritesEach = 12;

    private static Dictionary<string, Tensor> Snapshot(nn.Module model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static double MaxAbs(Tensor a, Tensor b)
    {
        using var d = (a - b).abs().max();
        return d.item<float>();
    }

    [Fact]
    public void ForwardsOnFourThreadsWhileFourThreadsLoadWeightsEachSeeOneWholeSetOfWeights()
    {
        using var model = TestFixtures.LoadTiny();
        using var other = TestFixtures.LoadTiny();
        var first = Snapshot(model);
        Dictionary<string, Tensor> second;
        using (no_grad())
        using (var half = tensor(0.5f))
            second = first.ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point() ? kv.Value * half : kv.Value.clone());
        using var x = randn(new long[] { 2, 3, 32, 32 }, generator: new Generator(7));

        // The references, one thread, cache off: the outputs of each weight set.
        model.OptimizeForInference();
        Tensor Reference(Dictionary<string, Tensor> weights)
        {
            StateDictLoader.Load(model, weights);
            using var _ = no_grad();
            return model.forward(x);
        }
        using var expectFirst = Reference(first);
        using var expectSecond = Reference(second);
        Assert.True(MaxAbs(expectFirst, expectSecond) > 1e-2, "the two weight sets must give different outputs");
        StateDictLoader.Load(model, first);

        var matchedFirst = 0; var matchedSecond = 0; var loads = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var start = new Barrier(Readers + Writers + 1);
        var threads = new List<Thread>();
        for (var r = 0; r < Readers; r++)
            threads.Add(new Thread(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < ReadsEach; i++)
                {
                    using var _ = no_grad();
                    using var y = model.forward(x);
                    double d1 = MaxAbs(y, expectFirst), d2 = MaxAbs(y, expectSecond);
                    if (d1 <= 1e-5) Interlocked.Increment(ref matchedFirst);
                    else if (d2 <= 1e-5) Interlocked.Increment(ref matchedSecond);
                    else failures.Enqueue($"output {i} matches neither weight set (|Δ| {d1:G3} and {d2:G3})");
                }
            }));
        for (var w = 0; w < Writers; w++)
        {
            var writer = w;
            threads.Add(new Thread(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < WritesEach; i++)
                {
                    var target = (writer + i) % 2 == 0 ? model : other;
                    StateDictLoader.Load(target, (writer + i) % 3 == 0 ? second : first);
                    Interlocked.Increment(ref loads);
                    if (i % 3 == 0)
                    {
                        GC.Collect();
                        GC.WaitForPendingFinalizers();
                    }
                }
            }));
        }
        foreach (var t in threads) t.Start();
        start.SignalAndWait();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(3)), "a thread did not finish: a deadlock");

        Assert.Empty(failures);
        Assert.Equal(Readers * ReadsEach, matchedFirst + matchedSecond);
        Assert.Equal(Writers * WritesEach, loads);
        foreach (var t in first.Values.Concat(second.Values)) t.Dispose();
    }

    [Fact]
    public void AWriteFromInsideAForwardOfTheSameModelIsRefusedNotADeadlock()
    {
        using var model = TestFixtures.LoadTiny();
        var weights = Snapshot(model);
        var inner = model.modules().OfType<ScaledWSConv2d>().First();  // its hook runs inside the model's forward
        var hook = inner.register_forward_pre_hook((m, input) =>
        {
            StateDictLoader.Load(model, weights);
            return input;
        });
        using var x = randn(1, 3, 32, 32);
        using (no_grad())
            Assert.Throws<LockRecursionException>(() => model.call(x));
        hook.remove();
        foreach (var t in weights.Values) t.Dispose();
    }

    [Fact]
    public void ALeasedWeightOutlivesADropAndIsFreedWhenItsLastReaderLeaves()
    {
        using var conv = new ScaledWSConv2d(8, 16, 3);
        using var cache = new StandardizedWeightCache();
        var computed = 0;
        Tensor Compute() { computed++; return conv.StandardizedWeight().detach(); }
        var lease = cache.Acquire(conv.Weight, conv.Gain, ScalarType.Float32, 1.0, Compute);
        var held = lease.Weight;
        using var expected = conv.StandardizedWeight();
        cache.Clear();                                               // what a load on another thread does
        Assert.False(held.IsInvalid);
        Assert.Equal(0.0, MaxAbs(held, expected));                   // still the weight, still readable
        using (var second = cache.Acquire(conv.Weight, conv.Gain, ScalarType.Float32, 1.0, Compute))
            Assert.NotSame(held, second.Weight);                     // a fresh entry, computed again
        Assert.Equal(2, computed);
        lease.Dispose();
        Assert.True(held.IsInvalid);                                 // the last reader left: freed
        lease.Dispose();                                             // a second dispose releases nothing more
        using var third = cache.Acquire(conv.Weight, conv.Gain, ScalarType.Float32, 1.0, Compute);
        Assert.Equal(2, computed);                                   // the second entry is still cached
        Assert.Equal(1, cache.Hits);
    }
}
