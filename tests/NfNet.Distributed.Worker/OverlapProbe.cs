using System.Collections.Concurrent;
using System.Diagnostics;
using NfNet.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Distributed.Worker;

/// <summary>
/// An identity in the forward pass whose backward calls an action: placed at a block's input, it runs once every
/// gradient of that block and of everything after it has been accumulated (PyTorch's engine runs AccumulateGrad
/// before any node created earlier in the forward pass), which is the moment DDP's per-parameter hooks would report
/// those gradients ready.
/// </summary>
internal sealed class GradientsReadyMarker : autograd.SingleTensorFunction<GradientsReadyMarker>
{
    public override string Name => nameof(GradientsReadyMarker);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ctx.save_data("ready", vars[1]);
        return ((Tensor)vars[0]).alias();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ((Action)ctx.get_data("ready"))();
        return new List<Tensor> { grad_output.alias(), null! }; // nothing for the action
    }
}

/// <summary>
/// The overlap benchmarks/README.md measures, and the library does not keep (it did not pay on a machine whose cores
/// the ranks already fill): markers at the inputs of <c>boundaries</c> (blocks or stages, in forward
/// order) hand each segment's finished gradients to a communication thread, which sums them across ranks with a
/// <see cref="GradientAverager"/> of that segment's parameters while the backward pass goes on through the earlier
/// segments. The parameters before
/// the first boundary (the stem) are reduced after the backward pass. Gradients must come from a loss already scaled
/// by 1 / world size (the trainer's convention): only sums here. The main thread must not call
/// MPI between the backward pass and <see cref="Finish"/> (MPI_THREAD_SERIALIZED).
/// </summary>
internal sealed class OverlappedGradientSum : IDisposable
{
    private readonly List<GradientAverager> _segments = new(); // forward order; [0] is the stem part
    private readonly List<Action> _removeHooks = new();
    private readonly BlockingCollection<GradientAverager?> _queue = new();
    private readonly Thread _thread;
    private int _pending;
    private readonly ManualResetEventSlim _idle = new(true);
    private Exception? _failure;

    public OverlappedGradientSum(nn.Module model, IReadOnlyList<nn.Module<Tensor, Tensor>> boundaries, ICommunicator communicator)
    {
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        var index = parameters.Select((p, i) => (p.Handle, i)).ToDictionary(t => t.Handle, t => t.i);
        var starts = boundaries.Select(b => index[b.parameters().First().Handle]).Append(parameters.Count).ToList();
        GradientAverager Segment(int from, int to) => new(parameters.Skip(from).Take(to - from), communicator) { GradientsPrescaled = true };
        _segments.Add(Segment(0, starts[0]));
        for (var k = 0; k < boundaries.Count; k++) _segments.Add(Segment(starts[k], starts[k + 1]));
        for (var k = 0; k < boundaries.Count; k++)
        {
            var segment = _segments[k + 1];
            var hook = boundaries[k].register_forward_pre_hook((_, x) => Enabled ? GradientsReadyMarker.apply(x, (Action)(() => Ready(segment))) : x);
            _removeHooks.Add(() => hook.remove());
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "gradient all-reduce" };
        _thread.Start();
    }

    /// <summary>Whether the forward pass places markers (off: <see cref="Finish"/> reduces everything after backward).</summary>
    public bool Enabled { get; set; } = true;

    public int SegmentCount => _segments.Count;

    /// <summary>Markers whose backward ran since the last <see cref="Finish"/> began (before it: of the pass it ended).</summary>
    public int MarkersFired { get; private set; }

    /// <summary>Seconds <see cref="Finish"/> waited for the communication thread (the part not hidden).</summary>
    public double LastWaitSeconds { get; private set; }

    /// <summary>Calls the marker callbacks still due (none when enabled and every marker fired) and waits for all sums.</summary>
    public void Finish()
    {
        var clock = Stopwatch.StartNew();
        MarkersFired = _fired;
        _fired = 0;
        if (!Enabled)
            for (var k = _segments.Count - 1; k >= 1; k--) Enqueue(_segments[k]);
        Enqueue(_segments[0]);
        _idle.Wait();
        LastWaitSeconds = clock.Elapsed.TotalSeconds;
        if (_failure is { } failure) throw new InvalidOperationException("a gradient all-reduce failed", failure);
    }

    private int _fired;

    private void Ready(GradientAverager segment)
    {
        _fired++;
        Enqueue(segment);
    }

    private void Enqueue(GradientAverager segment)
    {
        if (Interlocked.Increment(ref _pending) == 1) _idle.Reset();
        _queue.Add(segment);
    }

    private void Run()
    {
        torch.set_num_threads(1);
        foreach (var segment in _queue.GetConsumingEnumerable())
        {
            if (segment is null) break;
            try
            {
                segment.Average(); // a finished segment's gradients are no longer written by the backward pass
            }
            catch (Exception e)
            {
                _failure ??= e;
            }
            if (Interlocked.Decrement(ref _pending) == 0) _idle.Set();
        }
    }

    public void Dispose()
    {
        foreach (var remove in _removeHooks) remove();
        _queue.Add(null);
        _thread.Join();
        _queue.Dispose();
        _idle.Dispose();
        foreach (var segment in _segments) segment.Dispose();
    }
}
