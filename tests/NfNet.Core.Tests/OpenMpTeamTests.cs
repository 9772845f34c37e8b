using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using NfNet.Layers;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Tests;

/// <summary>
/// <see cref="OpenMpTeam"/>: the library's kernels on libtorch's own OpenMP threads — found, every index run once, on
/// more than one thread, errors brought back to the caller, and kernel results the same bit for bit on the team and on
/// one thread.
/// </summary>
public sealed class OpenMpTeamTests
{
    [Fact]
    public void TheRuntimeIsTheOneLibtorchLoaded()
    {
        using var probe = ones(1); // libtorch is loaded
        if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            // libtorch's Linux packages bring their own libgomp beside libtorch_cpu.so.
            var path = OpenMpTeam.RuntimePath;
            Assert.NotNull(path);
            Assert.StartsWith("libgomp", Path.GetFileName(path));
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "libtorch_cpu.so")), path);
            Assert.True(OpenMpTeam.IsAvailable);
        }
        else
        {
            Assert.Equal(OpenMpTeam.RuntimePath is not null, OpenMpTeam.IsAvailable);
        }
    }

    [Fact]
    public void EveryIndexRunsOnceInContiguousSharesOnTwoThreads()
    {
        Assert.True(OpenMpTeam.IsAvailable, "libtorch's OpenMP runtime was not found");
        const long count = 1001;
        var hits = new int[count];
        var shares = new ConcurrentBag<(long Start, long End, int Thread)>();
        OpenMpTeam.For(count, 2, (start, end) =>
        {
            shares.Add((start, end, Environment.CurrentManagedThreadId));
            for (var i = start; i < end; i++) Interlocked.Increment(ref hits[i]);
        });
        Assert.All(hits, h => Assert.Equal(1, h));
        var ordered = shares.OrderBy(s => s.Start).ToArray();
        Assert.Equal(new[] { (0L, 500L), (500L, 1001L) }, ordered.Select(s => (s.Start, s.End)));
        Assert.Equal(2, ordered.Select(s => s.Thread).Distinct().Count());
        Assert.Contains(Environment.CurrentManagedThreadId, ordered.Select(s => s.Thread)); // the caller takes a share
    }

    [Fact]
    public void WithOneThreadOrTheTeamOffTheCallerRunsTheWholeRange()
    {
        var caller = Environment.CurrentManagedThreadId;
        foreach (var (threads, enabled) in new[] { (1, true), (2, false) })
        {
            var shares = new ConcurrentBag<(long, long, int)>();
            OpenMpTeam.Enabled = enabled;
            try { OpenMpTeam.For(10, threads, (s, e) => shares.Add((s, e, Environment.CurrentManagedThreadId))); }
            finally { OpenMpTeam.Enabled = true; }
            Assert.Equal(new[] { (0L, 10L, caller) }, shares);
        }
    }

    [Fact]
    public void AnExceptionInAShareReachesTheCallerAfterEveryShareEnded()
    {
        Assert.True(OpenMpTeam.IsAvailable, "libtorch's OpenMP runtime was not found");
        var finished = 0;
        var error = Assert.Throws<InvalidOperationException>(() => OpenMpTeam.For(2, 2, (start, _) =>
        {
            if (start == 1) throw new InvalidOperationException("share 1 failed");
            Thread.Sleep(50);
            Interlocked.Increment(ref finished);
        }));
        Assert.Equal("share 1 failed", error.Message);
        Assert.Equal(1, finished);
        // The team still works afterwards.
        var sum = 0L;
        OpenMpTeam.For(100, 2, (s, e) => Interlocked.Add(ref sum, e - s));
        Assert.Equal(100, sum);
    }

    [Theory]
    [InlineData(ScalarType.Float32, ScalarType.Float32)]
    [InlineData(ScalarType.Float32, ScalarType.BFloat16)]
    [InlineData(ScalarType.BFloat16, ScalarType.BFloat16)]
    public void FusedStandardizationIsTheSameBitForBitOnTheTeamAndOnOneThread(ScalarType weightType, ScalarType outputType)
    {
        Assert.True(OpenMpTeam.IsAvailable, "libtorch's OpenMP runtime was not found");
        manual_seed(11);
        // 147,456 values: above the size from which the kernels split the rows (and an odd row count per share).
        var weight = randn(new long[] { 257, 64, 3, 3 }, float64).TimesInPlace(2.0).PlusInPlace(0.3).to(weightType);
        var gain = empty(new long[] { 257, 1, 1, 1 }, float64).uniform_(0.5, 1.5).to(weightType);
        var probe = randn(new long[] { 257, 64, 3, 3 }, float64).to(outputType);
        var formula = new StandardizationFormula(WeightStandardization.Timm, ScaledWSConv2d.TimmEps, 1.7);

        (Tensor Y, Tensor Dw, Tensor Dg) Run(bool team)
        {
            OpenMpTeam.Enabled = team;
            try
            {
                var w = weight.clone().requires_grad_();
                var g = gain.clone().requires_grad_();
                var y = FusedWeightStandardization.Standardize(w, g, formula, outputType);
                (y * probe).sum().backward();
                return (y.detach(), w.grad!, g.grad!);
            }
            finally { OpenMpTeam.Enabled = true; }
        }

        var passes = FusedWeightStandardization.ForwardPasses;
        var (y1, dw1, dg1) = Run(team: true);
        var (y0, dw0, dg0) = Run(team: false);
        Assert.Equal(passes + 2, FusedWeightStandardization.ForwardPasses);
        Assert.True(y1.allclose(y0, rtol: 0, atol: 0), "output");
        Assert.True(dw1.allclose(dw0, rtol: 0, atol: 0), "weight gradient");
        Assert.True(dg1.allclose(dg0, rtol: 0, atol: 0), "gain gradient");
        Assert.True(y1.isfinite().all().item<bool>());
    }
}
