using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// Exponential moving average of a model's parameters, as the paper evaluates it: after optimizer step <c>t</c>
/// (0-based) <c>ema ← d_t·ema + (1 − d_t)·w</c> with <c>d_t = min(decay, (1 + t)/(10 + t))</c> (TF1-style warm-up),
/// so early averages follow the weights closely. The shadow weights are kept in float32 (float64 for float64
/// parameters) whatever the model's dtype, on the model's device.
/// </summary>
/// <remarks>
/// Floating-point buffers are averaged too; other buffers (counters) are copied. Evaluate with the averaged weights via
/// <see cref="ApplyTo"/>: <c>using (ema.ApplyTo(model)) { evaluate(model); }</c> swaps them in and restores the trained
/// weights on dispose. Build it after moving the model to its device and dtype.
/// </remarks>
public sealed class ExponentialMovingAverage : IDisposable
{
    /// <summary>The paper's decay (0.99999 at 112k steps; use a smaller one for short runs).</summary>
    public const double PaperDecay = 0.99999;

    private readonly (string Name, Tensor Shadow)[] _shadows;

    /// <summary>Starts the average at the current weights of <paramref name="model"/>.</summary>
    /// <param name="model">The model whose parameters are averaged.</param>
    /// <param name="decay">Maximum decay, in (0, 1).</param>
    /// <param name="warmup">Use <c>min(decay, (1+t)/(10+t))</c>; false uses <paramref name="decay"/> from the first step.</param>
    /// <exception cref="ArgumentOutOfRangeException">The decay is not in (0, 1).</exception>
    public ExponentialMovingAverage(nn.Module model, double decay = PaperDecay, bool warmup = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(decay > 0 && decay < 1)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must be in (0, 1)");
        Decay = decay;
        Warmup = warmup;
        using var _ = no_grad();
        _shadows = Tracked(model).Select(e => (e.Name, Shadow(e.Tensor))).ToArray();
    }

    /// <summary>The maximum decay.</summary>
    public double Decay { get; }
    /// <summary>Whether the warm-up rule is used.</summary>
    public bool Warmup { get; }
    /// <summary>Updates made so far (the next update uses <c>t = UpdateCount</c>).</summary>
    public long UpdateCount { get; private set; }

    /// <summary>The decay used at update <paramref name="t"/>.</summary>
    public double DecayAt(long t) => Warmup ? Math.Min(Decay, (1.0 + t) / (10.0 + t)) : Decay;

    /// <summary>Folds the model's current weights into the average (call after each optimizer step).</summary>
    /// <exception cref="ArgumentException">The model's tensors are not the ones the average was built from.</exception>
    public void Update(nn.Module model)
    {
        var d = DecayAt(UpdateCount);
        using var decay = d.ToScalar();
        using var rest = (1 - d).ToScalar();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var current = Match(model);
        for (var i = 0; i < _shadows.Length; i++)
        {
            var shadow = _shadows[i].Shadow;
            var w = current[i].to(shadow.dtype);
            if (shadow.is_floating_point()) shadow.mul_(decay).add_(w, rest);
            else shadow.copy_(w);
        }
        UpdateCount++;
    }

    /// <summary>Copies the averaged weights into <paramref name="model"/> (converting to its dtypes).</summary>
    public void CopyTo(nn.Module model)
    {
        ModelWeights.Write(model, () =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var current = Match(model);
            for (var i = 0; i < _shadows.Length; i++) current[i].copy_(_shadows[i].Shadow);
        });
    }

    /// <summary>
    /// Swaps the averaged weights into <paramref name="model"/> until the returned handle is disposed, which restores the
    /// trained weights exactly.
    /// </summary>
    public IDisposable ApplyTo(nn.Module model)
    {
        Tensor[] backup;
        using (NewDisposeScope())
        using (no_grad())
            backup = Match(model).Select(t => DetachedCopy.Of(t)).ToArray();
        CopyTo(model);
        return new Restore(model, this, backup);
    }

    /// <summary>The averaged tensors by state-dict name (owned by the average; do not dispose).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict() => _shadows.ToDictionary(s => s.Name, s => s.Shadow);

    /// <summary>Restores the average from <paramref name="state"/> (e.g. a checkpoint) and its update count.</summary>
    /// <exception cref="ArgumentException">A name is missing or a shape differs.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, long updateCount)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (updateCount < 0) throw new ArgumentOutOfRangeException(nameof(updateCount));
        using var _ = no_grad();
        foreach (var (name, shadow) in _shadows)
        {
            if (!state.TryGetValue(name, out var t)) throw new ArgumentException($"EMA state has no '{name}'", nameof(state));
            if (!Shapes.Same(t, shadow))
                throw new ArgumentException($"EMA state '{name}' has shape [{string.Join(", ", Shapes.Of(t))}], expected [{string.Join(", ", Shapes.Of(shadow))}]", nameof(state));
            shadow.copy_(t);
        }
        UpdateCount = updateCount;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (_, s) in _shadows) s.Dispose();
    }

    private static IEnumerable<(string Name, Tensor Tensor)> Tracked(nn.Module model) =>
        model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(model.named_buffers().Select(b => (b.name, b.buffer)));

    private static Tensor Shadow(Tensor t)
    {
        var dtype = t.is_floating_point() && t.dtype != ScalarType.Float64 ? ScalarType.Float32 : t.dtype;
        // The constructor runs outside any dispose scope (DetachedCopy says why that matters).
        return DetachedCopy.Of(t, dtype);
    }

    private Tensor[] Match(nn.Module model)
    {
        var current = Tracked(model).ToArray();
        if (current.Length != _shadows.Length)
            throw new ArgumentException($"the model has {current.Length} parameters and buffers, the average {_shadows.Length}", nameof(model));
        for (var i = 0; i < current.Length; i++)
            if (current[i].Name != _shadows[i].Name || !Shapes.Same(current[i].Tensor, _shadows[i].Shadow))
                throw new ArgumentException($"the model's tensor '{current[i].Name}' does not match the average's '{_shadows[i].Name}'", nameof(model));
        return current.Select(c => c.Tensor).ToArray();
    }

    private sealed class Restore(nn.Module model, ExponentialMovingAverage owner, Tensor[] backup) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            ModelWeights.Write(model, () =>
            {
                using var _ = no_grad();
                var current = owner.Match(model);
                for (var i = 0; i < backup.Length; i++) { current[i].copy_(backup[i]); backup[i].Dispose(); }
            });
        }
    }
}
