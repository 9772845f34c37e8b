using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// Adaptive Gradient Clipping (Brock et al. 2021, §4.1) as a decorator around any TorchSharp optimizer. Before the
/// inner optimizer steps, each clipped parameter's gradient is rescaled unit-wise so that
/// <c>‖G_i‖ ≤ λ · max(‖W_i‖, eps)</c>: <c>G_i ← G_i · λ·max(‖W_i‖, eps) / max(‖G_i‖, 1e-6)</c> where it exceeds that,
/// unchanged elsewhere. Learning rates and schedulers reach the inner optimizer through <see cref="OptimizerDecorator.ParamGroups"/>.
/// </summary>
/// <remarks>
/// <para>Order of a step (DeepMind's SGD_AGC): clip the raw gradients, then add weight decay (<c>g ← g + wd·W</c>),
/// then the inner optimizer's update (e.g. Nesterov momentum). The decay can come from either place and lands after
/// clipping both ways, because the inner optimizer only sees the gradient once it is clipped: a
/// <see cref="CoupledWeightDecay"/> given here decays only the parameters it names (the paper decays conv and linear
/// weights, not gains and biases; see <see cref="NFNetRecipe.SplitForWeightDecay"/>), while the inner optimizer's own
/// <c>weight_decay</c> decays every parameter of its group. Giving both would decay twice, so the constructor
/// refuses that.</para>
/// <para>Parameters not named in <c>clipped</c> are stepped but not clipped. With zero-initialised scalars such as
/// <c>skipinit_gain</c>, clipping caps their gradient at λ·eps, which freezes the residual branches in short runs
/// (thousands of steps): leave them out of the clipped set there (see <see cref="AgcParameters.ForModel"/>).</para>
/// <para>With <see cref="SharpnessAwareMinimization"/>, wrap AGC inside SAM: SAM's base step is then AGC's step, so the
/// gradient at the perturbed point is clipped just before the update.</para>
/// </remarks>
public sealed class AdaptiveGradientClipping : OptimizerDecorator
{
    /// <summary>DeepMind's and timm's default clip factor λ.</summary>
    public const double DefaultClipFactor = 0.01;

    /// <summary>Floor on the parameter norm, so zero-initialised parameters can still move (1e-3).</summary>
    public const double DefaultEps = 1e-3;

    /// <summary>Floor on the gradient norm in the rescaling division (1e-6).</summary>
    public const double GradientNormFloor = 1e-6;

    private static readonly Scalar GradientNormFloorScalar = GradientNormFloor.ToScalar();

    private readonly (string Name, Parameter Parameter)[] _clipped;
    private readonly CoupledWeightDecay? _weightDecay;

    /// <summary>Wraps <paramref name="inner"/> and clips the gradients of <paramref name="clipped"/> before each step.</summary>
    /// <param name="inner">Any optimizer (SGD, Adam, …) over the model's parameters.</param>
    /// <param name="clipped">Named parameters to clip; the others are left to the inner optimizer unclipped.</param>
    /// <param name="clipFactor">λ; must be positive.</param>
    /// <param name="eps">Floor on the parameter norm; must be positive.</param>
    /// <param name="gains">How [O, 1, 1, 1] gains are clipped.</param>
    /// <param name="skipNonFiniteSteps">False (default): a NaN/∞ gradient raises <see cref="NonFiniteGradientException"/>.
    /// True: the step is skipped (gradients are zeroed) and <see cref="OptimizerDecorator.SkippedSteps"/> counts it.</param>
    /// <param name="weightDecay">Weight decay added after clipping; null for none.</param>
    /// <exception cref="ArgumentException">The inner optimizer has no parameters, is a
    /// <see cref="SharpnessAwareMinimization"/> (wrap the other way round), or adds coupled weight decay itself while
    /// <paramref name="weightDecay"/> adds it too.</exception>
    public AdaptiveGradientClipping(optim.Optimizer inner, IEnumerable<(string Name, Parameter Parameter)> clipped,
        double clipFactor = DefaultClipFactor, double eps = DefaultEps, GainClipping gains = GainClipping.Elementwise,
        bool skipNonFiniteSteps = false, CoupledWeightDecay? weightDecay = null)
        : base(inner)
    {
        ArgumentNullException.ThrowIfNull(clipped);
        if (!(clipFactor > 0)) throw new ArgumentOutOfRangeException(nameof(clipFactor), clipFactor, "AGC clip factor λ must be positive");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "AGC eps must be positive");
        if (inner is SharpnessAwareMinimization)
            throw new ArgumentException("AGC cannot wrap SAM (SAM's step needs the closure): wrap AGC inside SAM instead, " +
                "new SharpnessAwareMinimization(new AdaptiveGradientClipping(sgd, ...))", nameof(inner));
        var innerDecay = InnerWeightDecay.Coupled(inner);
        if (innerDecay > 0 && weightDecay is { Rate: > 0 })
            throw new ArgumentException($"weight decay is given twice: the inner optimizer adds {innerDecay} itself and " +
                $"the CoupledWeightDecay adds {weightDecay.Rate}; create the inner optimizer with weight_decay: 0 (the " +
                "paper's choice: decay only conv and linear weights, through CoupledWeightDecay) or pass no CoupledWeightDecay",
                nameof(weightDecay));
        _weightDecay = weightDecay;
        _clipped = clipped.ToArray();
        ClipFactor = clipFactor;
        Eps = eps;
        Gains = gains;
        SkipNonFiniteSteps = skipNonFiniteSteps;
    }

    /// <summary>λ.</summary>
    public double ClipFactor { get; }
    /// <summary>Floor on the parameter norm.</summary>
    public double Eps { get; }
    /// <summary>Gain convention.</summary>
    public GainClipping Gains { get; }
    /// <summary>Whether non-finite gradients skip the step instead of raising.</summary>
    public bool SkipNonFiniteSteps { get; }
    /// <summary>The weight decay added after clipping, if any.</summary>
    public CoupledWeightDecay? WeightDecay => _weightDecay;
    /// <summary>
    /// Whether a step may run fused on the CPU (default true): when the inner optimizer is TorchSharp's <c>SGD</c>
    /// (momentum or none, Nesterov or not, without its own weight decay, dampening or maximize), the CPU has 256-bit
    /// vectors (x64 with AVX2) and every parameter with a gradient is a contiguous float32 or bf16 CPU tensor, clipping,
    /// weight decay and the SGD update run in two passes instead of about eight: one over the gradients (their unit-wise
    /// norms; a non-finite one stops the step before anything is written), one unit by unit over weight, gradient and
    /// momentum (512-bit vectors with AVX-512). Values are computed in float32 and rounded once, so bf16 results differ
    /// from the unfused sequence in the last bits; everything else (SGD's momentum buffers, checkpoints, schedulers, the
    /// clipped gradient left in <c>grad</c>, non-finite handling) is the same. Set false to force the unfused sequence
    /// (the default is false when <see cref="NfNet.Platform.PlatformSwitches.DisableFusedOptimizerStep"/> is on).
    /// </summary>
    public bool UseFusedCpuStep { get; set; } = !NfNet.Platform.PlatformSwitches.DisableFusedOptimizerStep.IsOn;

    /// <summary>
    /// Why steps cannot run fused on this machine with this inner optimizer, or null when they can (the rule of
    /// <see cref="UseFusedCpuStep"/>: 256-bit vector hardware, TorchSharp's <c>SGD</c> without its own decay, dampening
    /// or maximize). A step that qualifies here still runs unfused when a parameter is not a contiguous float32 or bf16
    /// CPU tensor, or a clipped gradient is not finite.
    /// </summary>
    public string? FusedCpuStepIneligibility => UseFusedCpuStep ? FusedCpuAgcSgd.Ineligibility(Inner) : "UseFusedCpuStep is false";

    /// <summary>Whether the last <see cref="step"/> ran fused (see <see cref="UseFusedCpuStep"/>).</summary>
    public bool LastStepWasFused { get; private set; }

    /// <summary>Names of the clipped parameters.</summary>
    public IReadOnlyList<string> ClippedNames => _clipped.Select(c => c.Name).ToArray();

    /// <summary>
    /// Clips <paramref name="gradient"/> in place for parameter <paramref name="weight"/>, unit-wise.
    /// Parameters without a gradient are the caller's concern.
    /// </summary>
    public static void ClipInPlace(Tensor weight, Tensor gradient, double clipFactor = DefaultClipFactor,
        double eps = DefaultEps, GainClipping gains = GainClipping.Elementwise)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        ClipWithNorm(weight, gradient, UnitwiseNorm.Of(gradient, gains), clipFactor, eps, gains);
    }

    // The clipping itself, given the gradient's unit-wise norm (computed once per step by ClipGradients).
    private static void ClipWithNorm(Tensor weight, Tensor gradient, Tensor gradNorm, double clipFactor, double eps, GainClipping gains)
    {
        using var epsScalar = eps.ToScalar();
        using var clipScalar = clipFactor.ToScalar();
        var maxNorm = UnitwiseNorm.Of(weight.detach(), gains).clamp_min_(epsScalar).mul_(clipScalar);
        // min(max / ‖G‖, 1): where ‖G‖ ≤ max the factor is exactly 1 and the gradient is kept; elsewhere it is scaled
        // onto the sphere of radius max. (With ‖G‖ below the 1e-6 floor, max / 1e-6 ≥ 10, so the factor is 1 too.)
        var factor = maxNorm.div_(gradNorm.clamp_min(GradientNormFloorScalar)).clamp_max_(Scalars.One);
        // On the CPU, reading one value back costs nothing (no device to synchronise with), and most steps clip few
        // units: a gradient with nothing to clip is left untouched instead of multiplied by ones (a pass over it).
        if (gradient.device_type == DeviceType.CPU && factor.min().ReadDouble() >= 1.0) return;
        gradient.mul_(factor.to(gradient.dtype));
    }

    /// <summary>Clips the gradients of the clipped parameters now (without stepping).</summary>
    /// <returns>False when a gradient was not finite and <see cref="SkipNonFiniteSteps"/> is set.</returns>
    public bool ClipGradients()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // One pass over each gradient for its unit-wise norm, and one host synchronisation for the whole step: a NaN or
        // ∞ anywhere in a gradient makes its norm non-finite. Only then is each suspect gradient checked element by
        // element (a finite gradient whose squared norm overflows is clipped, as before).
        var work = new List<(string Name, Parameter Parameter, Tensor Gradient, Tensor Norm)>(_clipped.Length);
        Tensor? allFinite = null;
        foreach (var (name, p) in _clipped)
        {
            var g = p.grad;
            if (g is null) continue; // parameters without gradients are skipped, not an error
            var norm = UnitwiseNorm.Of(g, Gains);
            var finite = norm.isfinite().all();
            allFinite = allFinite is null ? finite : allFinite.logical_and_(finite);
            work.Add((name, p, g, norm));
        }
        if (allFinite is not null && !allFinite.ReadBoolean())
            foreach (var (name, _, g, norm) in work)
                if (!norm.isfinite().all().ReadBoolean() && !g.isfinite().all().ReadBoolean())
                {
                    if (SkipNonFiniteSteps) return false;
                    throw new NonFiniteGradientException(name);
                }
        foreach (var (_, p, g, norm) in work) ClipWithNorm(p, g, norm, ClipFactor, Eps, Gains);
        return true;
    }

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using var _ = enable_grad();
            loss = closure();
        }
        if (UseFusedCpuStep && FusedCpuAgcSgd.TryStep(Inner, _clipped.Select(c => c.Parameter),
                _weightDecay?.Parameters ?? Array.Empty<Parameter>(), _weightDecay?.Rate ?? 0, ClipFactor, Eps, Gains))
        {
            LastStepWasFused = true;
            return loss!;
        }
        LastStepWasFused = false;
        if (!ClipGradients())
        {
            SkippedSteps++;
            Inner.zero_grad();
            return loss!;
        }
        AddWeightDecay();
        ScalarSafeSgdStep.Step(Inner);
        return loss!;
    }

    /// <summary>Adds <c>wd·W</c> to the gradients of the decayed parameters (after clipping).</summary>
    private void AddWeightDecay()
    {
        if (_weightDecay is null || _weightDecay.Rate == 0) return;
        using var _ = no_grad();
        foreach (var p in _weightDecay.Parameters)
        {
            var g = p.grad;
            if (g is null) continue;
            g.PlusInPlace(p, _weightDecay.Rate);
        }
    }


}
