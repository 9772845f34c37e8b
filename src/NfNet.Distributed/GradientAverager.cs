using System.Diagnostics;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Distributed;

/// <summary>
/// Averages the gradients of a module's trained parameters across ranks after the backward pass, before the optimizer
/// (and so before AGC) looks at them, as DeepMind's NFNet <c>experiment.py</c> averages (<c>pmean</c>) before
/// <c>opt.step</c>: AGC clips the global gradient. Small parameters (gains, biases, small kernels) go PyTorch DDP's way:
/// in reverse order, packed into buckets of about <see cref="BucketBytes"/> (25 MB), one in-place all-reduce per
/// bucket, copied back. Large ones (at least <see cref="DirectBytes"/>, 1 MB) are reduced in place in the gradient's
/// own memory: packing them would cost two more passes over most of the gradient (measured: +65 % over the bare
/// all-reduce for F0 on 2 ranks). bf16 and fp16 gradients are reduced in float32, float64 in float64. The sum is
/// divided by the world size, unless <see cref="GradientsPrescaled"/> says the loss already was.
/// </summary>
/// <remarks>
/// The reduction runs after the whole backward pass, not overlapped with it as DDP does from per-parameter gradient
/// hooks (TorchSharp 0.107 has none). An overlap built from markers at block inputs was measured and not kept: on a
/// machine whose cores the ranks already fill it slowed the backward pass by as much as it hid (benchmarks/README.md,
/// "Overlapping the all-reduce with the backward pass"). A parameter without a gradient on a rank contributes zeros
/// (and keeps no gradient there).
/// </remarks>
public sealed class GradientAverager : IDisposable
{
    /// <summary>DDP's default bucket size (<c>bucket_cap_mb=25</c>).</summary>
    public const long DefaultBucketBytes = 25L * 1024 * 1024;

    /// <summary>Gradients of at least this many bytes are reduced in place instead of packed.</summary>
    public const long DefaultDirectBytes = 1L * 1024 * 1024;

    private readonly ICommunicator _communicator;
    private readonly List<(Tensor Buffer, (TorchSharp.Modules.Parameter Parameter, long Offset)[] Members)> _buckets = new();
    private readonly List<TorchSharp.Modules.Parameter> _direct = new();

    /// <summary>Prepares the buckets for <paramref name="module"/>'s parameters with <c>requires_grad</c>.</summary>
    public GradientAverager(nn.Module module, ICommunicator communicator, long bucketBytes = DefaultBucketBytes, long directBytes = DefaultDirectBytes)
        : this((module ?? throw new ArgumentNullException(nameof(module))).parameters(), communicator, bucketBytes, directBytes)
    {
    }

    /// <summary>Prepares the buckets for those of <paramref name="parameters"/> with <c>requires_grad</c>, given in forward
    /// order (as <c>parameters()</c> lists a module's) and bucketed in reverse: for averaging part of a model, such as the
    /// parameters of one stage.</summary>
    public GradientAverager(IEnumerable<TorchSharp.Modules.Parameter> parameters, ICommunicator communicator, long bucketBytes = DefaultBucketBytes, long directBytes = DefaultDirectBytes)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(communicator);
        if (bucketBytes <= 0) throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, "bucket size must be positive");
        if (directBytes <= 0) throw new ArgumentOutOfRangeException(nameof(directBytes), directBytes, "the in-place threshold must be positive");
        _communicator = communicator;
        (BucketBytes, DirectBytes) = (bucketBytes, directBytes);
        var trained = parameters.Where(p => p.requires_grad).ToArray();
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
            foreach (var p in trained.Where(p => ReduceType(p.dtype) == type).Reverse())
            {
                if (p.dtype == type && p.numel() * ElementSize(type) >= directBytes)
                {
                    _direct.Add(p);
                    continue;
                }
                members.Add((p, elements));
                elements += p.numel();
                if (elements * ElementSize(type) >= bucketBytes) Close();
            }
            Close();
        }
        Parameters = _buckets.Sum(b => b.Members.Length) + _direct.Count;
        Elements = _buckets.Sum(b => b.Buffer.numel()) + _direct.Sum(p => p.numel());
    }

    /// <summary>Target bucket size in bytes.</summary>
    public long BucketBytes { get; }
    /// <summary>Gradients from this size on are reduced in place.</summary>
    public long DirectBytes { get; }
    /// <summary>Number of buckets of packed small gradients.</summary>
    public int BucketCount => _buckets.Count;
    /// <summary>Number of gradients reduced in place.</summary>
    public int DirectCount => _direct.Count;
    /// <summary>Parameters averaged.</summary>
    public int Parameters { get; }
    /// <summary>Gradient values averaged per step.</summary>
    public long Elements { get; }
    /// <summary>The gradients come from a loss already multiplied by 1 / world size (the trainer does this, saving a
    /// pass over the gradient): <see cref="Average"/> then only sums. Default false.</summary>
    public bool GradientsPrescaled { get; set; }
    /// <summary>Wall time of the last <see cref="Average"/> (packing, all-reduce, unpacking).</summary>
    public TimeSpan LastDuration { get; private set; }

    /// <summary>Replaces every gradient with its mean over the ranks (its sum, with <see cref="GradientsPrescaled"/>).
    /// Every rank must call it at the same point.</summary>
    public void Average()
    {
        if (_communicator.WorldSize == 1) return;
        var clock = Stopwatch.StartNew();
        using var _ = no_grad();
        var scale = GradientsPrescaled ? 1.0 : 1.0 / _communicator.WorldSize;
        foreach (var p in _direct)
        {
            using var scope = NewDisposeScope();
            var g = p.grad;
            var inPlace = g is not null && g.is_contiguous() && g.device_type == DeviceType.CPU && g.dtype == p.dtype;
            var buffer = inPlace ? g! : g is null ? zeros(p.numel(), ReduceType(p.dtype)) : g.to(ReduceType(p.dtype)).cpu().contiguous();
            Reduce(buffer);
            if (g is null) continue;
            if (!inPlace) g.copy_(buffer.view_as(g));
            if (scale != 1.0) g.TimesInPlace(scale);
        }
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
            Reduce(buffer);
            if (scale != 1.0) buffer.TimesInPlace(scale);
            using (var scope = NewDisposeScope())
            {
                foreach (var (p, offset) in members)
                    if (p.grad is { } g) g.copy_(buffer.narrow(0, offset, p.numel()).view_as(g));
            }
        }
        LastDuration = clock.Elapsed;
    }

    private unsafe void Reduce(Tensor contiguous)
    {
        var data = TorchSharpInternals.DataPointer(contiguous);
        var count = checked((int)contiguous.numel());
        if (contiguous.dtype == ScalarType.Float64) _communicator.AllReduceSum(new Span<double>((void*)data, count));
        else _communicator.AllReduceSum(new Span<float>((void*)data, count));
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
