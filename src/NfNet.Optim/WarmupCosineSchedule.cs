using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// The paper's learning-rate schedule (DeepMind's <c>WarmupCosineDecay</c>), per step: linear warm-up from 0 to the
/// peak over <c>warmupSteps</c>, then cosine decay to 0 at <c>totalSteps</c>:
/// <c>lr(t) = peak·t/w</c> for <c>t &lt; w</c>, else <c>0.5·peak·(1 + cos(π·(t − w)/(T − w)))</c>, and 0 after T.
/// The peak of each parameter group is its initial learning rate. Works on any optimizer, including decorators, and
/// composes like TorchSharp's own schedulers: call <see cref="optim.lr_scheduler.LRScheduler.step()"/> once per
/// optimizer step.
/// </summary>
/// <remarks>The constructor sets the rate for step 0 (which is 0 when there is a warm-up), so the first optimizer step
/// of a fresh run does not move the weights, as in the reference.</remarks>
public sealed class WarmupCosineSchedule : optim.lr_scheduler.LRScheduler
{
    private readonly double[] _peaks;
    private int _t;

    /// <summary>Schedules <paramref name="optimizer"/>.</summary>
    /// <param name="optimizer">Any optimizer; each group's initial learning rate is its peak.</param>
    /// <param name="warmupSteps">Steps of linear warm-up (0 for none).</param>
    /// <param name="totalSteps">Steps of the whole run, warm-up included; the rate is 0 from there on.</param>
    /// <param name="currentStep">The step to start at (to resume a run), 0 for a new run.</param>
    /// <exception cref="ArgumentOutOfRangeException">The step counts are negative or the warm-up exceeds the total.</exception>
    public WarmupCosineSchedule(optim.Optimizer optimizer, int warmupSteps, int totalSteps, int currentStep = 0)
        : base(optimizer ?? throw new ArgumentNullException(nameof(optimizer)), -1, false)
    {
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "total steps must be positive");
        if (warmupSteps < 0 || warmupSteps > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"warm-up steps must be in [0, {totalSteps}]");
        if (currentStep < 0) throw new ArgumentOutOfRangeException(nameof(currentStep), currentStep, "the step must be non-negative");
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        _peaks = optimizer.ParamGroups.Select(g => g.InitialLearningRate).ToArray();
        _t = currentStep - 1;
        step();
    }

    /// <summary>Warm-up length in steps.</summary>
    public int WarmupSteps { get; }
    /// <summary>Run length in steps.</summary>
    public int TotalSteps { get; }
    /// <summary>The step whose rate is set now (0 after construction, +1 per <c>step()</c>).</summary>
    public int CurrentStep => _t;

    /// <summary>The closed form: the rate at <paramref name="step"/> for a given peak, warm-up and total.</summary>
    public static double LearningRateAt(int step, double peak, int warmupSteps, int totalSteps)
    {
        if (step < 0) return 0;
        if (step < warmupSteps) return peak * step / warmupSteps;
        if (step >= totalSteps) return 0;
        var progress = (double)(step - warmupSteps) / (totalSteps - warmupSteps);
        return 0.5 * peak * (1 + Math.Cos(Math.PI * progress));
    }

    /// <inheritdoc />
    public override void step(int? epoch)
    {
        _t = epoch ?? _t + 1;
        base.step(epoch);
    }

    /// <inheritdoc />
    protected override IEnumerable<double> get_lr() => _peaks.Select(p => LearningRateAt(_t, p, WarmupSteps, TotalSteps));

    /// <inheritdoc />
    protected override IEnumerable<double> get_closed_form_lr() => get_lr();
}
