using System.Diagnostics;
using NfNet.Internal;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Distributed;

/// <summary>
/// Averages the gradients of a module's trained parameters across ranks after the backward pass, before the optimizer
/// (and so before AGC) looks at them, as DeepMind's NFNet <c>experiment.py</c> averages (<c>pmean</c>) before
/// <c>opt.step</c>: AGC clips the global gradient. PyTorch DDP's layout: parameters in reverse order (the order the
/// backward pass finishes them) packed into float32 buckets of about <see cref="BucketBytes"/> (25 MB), one
/// in-place all-reduce per bucket, then ÷ world size and copied back. bf16, fp16 and float32 gradients are reduced in
/// float32; float64 gradients in float64 (each bucket holds one of the two).
/// </summary>
/// <remarks>
/// TorchSharp 0.107 has no per-parameter gradient hooks, so buckets are reduced after the whole backward pass, not
/// overlapped with it as DDP does; benchmarks/README.md measures what that costs. A parameter without a gradient on a
/// rank contributes zeros (and keeps no gradient there).
/// </remarks>
public sealed class GradientAverager : IDisposable
{
    /// <summary>DDP's default bucket size (<c>bucket_cap_mb=25</c>).</summary>
    public const long DefaultBucketBytes = 25L * 1024 * 1024;

    private readonly ICommunicator _communicator;
    private readonly List<(Tensor Buffer, (TorchSharp.Modules.Parameter Parameter, long Offset)[] Members)> _buckets = new();

    /// <summary>Prepares the buckets for <paramref name="module"/>'s parameters with <c>requires_grad</c>.</summary>
    public GradientAverager(nn.Module module, ICommunicator communicator, long bucketBytes = DefaultBucketBytes)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(communicator);
        if (bucketBytes <= 0) throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, "bucket size must be positive");
        _communicator = communicator;
        BucketBytes = bucketBytes;
        foreach (var type in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            var members = new List<(TorchSharp.Modules.Parameter, long)>();
            long elements = 0;
            void Close()
            {
                if (members.Count == 0) return;
                var buffer = zeros(elements, type).DetachFromDisposeScope();
                _buckets.Add((buffer, members.ToArray()));
                members.Clear();
                elements = 0;
            }
            foreach (var p in module.parameters().Where(p => p.requires_grad && ReduceType(p.dtype) == type).Reverse())
            {
                members.Add((p, elements));
                elements += p.numel();
                if (elements * ElementSize(type) >= bucketBytes) Close();
            }
            Close();
        }
        Parameters = _buckets.Sum(b => b.Members.Length);
        Elements = _buckets.Sum(b => b.Buffer.numel());
    }

    /// <summary>Target bucket size in bytes.</summary>
    public long BucketBytes { get; }
    /// <summary>Number of buckets (all-reduce calls per step).</summary>
    public int BucketCount => _buckets.Count;
    /// <summary>Parameters averaged.</summary>
    public int Parameters { get; }
    /// <summary>Gradient values averaged per step.</summary>
    public long Elements { get; }
    /// <summary>Wall time of the last <see cref="Average"/> (packing, all-reduce, unpacking).</summary>
    public TimeSpan LastDuration { get; private set; }

    /// <summary>Replaces every gradient with its mean over the ranks. Every rank must call it at the same point.</summary>
    public unsafe void Average()
    {
        if (_communicator.WorldSize == 1) return;
        var clock = Stopwatch.StartNew();
        using var _ = no_grad();
        var scale = 1.0 / _communicator.WorldSize;
        foreach (var (buffer, members) in _buckets)
        {
            using (var scope = NewDisposeScope())
            {
                foreach (var (p, offset) in members)
                {
                    var slice = buffer.narrow(0, offset, p.numel());
                    if (p.grad is { } g) slice.copy_(g.reshape(-1));
                    else slice.zero_();
                }
            }
            var count = checked((int)buffer.numel());
            var data = TorchSharpInternals.DataPointer(buffer);
            if (buffer.dtype == ScalarType.Float64) _communicator.AllReduceSum(new Span<double>((void*)data, count));
            else _communicator.AllReduceSum(new Span<float>((void*)data, count));
            buffer.mul_(scale);
            using (var scope = NewDisposeScope())
            {
                foreach (var (p, offset) in members)
                    if (p.grad is { } g) g.copy_(buffer.narrow(0, offset, p.numel()).view_as(g));
            }
        }
        LastDuration = clock.Elapsed;
    }

    /// <summary>The dtype a gradient is reduced in: float64 stays float64, everything else goes through float32.</summary>
    public static ScalarType ReduceType(ScalarType gradient) => gradient == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    private static int ElementSize(ScalarType type) => type == ScalarType.Float64 ? sizeof(double) : sizeof(float);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (buffer, _) in _buckets) buffer.Dispose();
        _buckets.Clear();
    }
}
