using NfNet.Devices;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// A 2-D convolution with Scaled Weight Standardization and a learnable per-output-channel gain
/// (Brock et al. 2021, §3; Qiao et al. 2019). Every convolution of an NFNet except the Squeeze-Excite FCs is one.
/// </summary>
/// <remarks>
/// <para>Parameters, in timm's state-dict order: <c>weight</c> [O, I/g, kh, kw] (N(0, 1/fan_in) init), <c>bias</c> [O]
/// (zeros) and <c>gain</c> [O, 1, 1, 1] (ones). The weight used in the convolution is recomputed from them on every
/// call (see <see cref="StandardizedWeight()"/>), so gradients flow through the standardization.</para>
/// <para>With <see cref="ConvPadding.Same"/> the padding is TensorFlow "SAME": static and symmetric where that is
/// exact (stride 1, odd kernel), otherwise computed per input size (asymmetric at stride 2, correct for odd sizes).</para>
/// </remarks>
public sealed class ScaledWSConv2d : nn.Module<Tensor, Tensor>
{
    /// <summary>Default epsilon of the timm formula for NFNets (timm's NFNet configs pass <c>std_conv_eps=1e-5</c>).</summary>
    public const double TimmEps = 1e-5;

    /// <summary>Epsilon of the DeepMind formula, applied as <c>max(var · fan_in, 1e-4)</c> (nfnets/base.py).</summary>
    public const double DeepMindEps = 1e-4;

    // Field names are the state-dict keys; their order is timm's (weight, bias, gain).
    private Parameter weight;
    private Parameter? bias;
    private Parameter gain;

    // Not a Tensor field, so RegisterComponents does not make it a buffer. Shared by every thread running this
    // convolution: readers lease the weight, so a load or a drop on another thread never frees it under them.
    private readonly StandardizedWeightCache _cache = new();

    // Set by FreezeForInference; dropped for good the moment a forward sees training mode or a trainable parameter.
    private volatile bool _frozenForInference;

    private readonly long[] _stride;
    private readonly long[] _dilation;
    private readonly long[] _staticPadding;
    private readonly bool _dynamicSame;

    /// <summary>Creates the convolution.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernelSize">Square kernel size.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="dilation">Dilation.</param>
    /// <param name="groups">Groups; must divide both channel counts.</param>
    /// <param name="hasBias">Whether the convolution has a bias (NFNets: yes).</param>
    /// <param name="padding">SAME (DeepMind / timm dm_) or symmetric (timm non-dm).</param>
    /// <param name="standardization">The timm formula (default, loads timm weights exactly) or DeepMind's.</param>
    /// <param name="eps">Epsilon; defaults to <see cref="TimmEps"/> or <see cref="DeepMindEps"/> by formula.</param>
    /// <param name="gamma">Activation gain folded into the weight (timm's non-dm models); 1 when the activations carry it.</param>
    /// <param name="device">Where to create the parameters (the meta device builds a full-size model for free).</param>
    /// <exception cref="InvalidNFNetConfigException">Non-positive sizes, or groups that do not divide the channels.</exception>
    public ScaledWSConv2d(
        long inChannels, long outChannels, long kernelSize, long stride = 1, long dilation = 1, long groups = 1,
        bool hasBias = true, ConvPadding padding = ConvPadding.Same,
        WeightStandardization standardization = WeightStandardization.Timm, double? eps = null, double gamma = 1.0,
        Device? device = null) : base(nameof(ScaledWSConv2d))
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || dilation <= 0 || groups <= 0)
            throw new InvalidNFNetConfigException(
                $"ScaledWSConv2d needs positive sizes, got in={inChannels}, out={outChannels}, kernel={kernelSize}, stride={stride}, dilation={dilation}, groups={groups}");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new InvalidNFNetConfigException(
                $"ScaledWSConv2d groups={groups} must divide in={inChannels} and out={outChannels} channels");

        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Dilation = dilation;
        Groups = groups;
        Padding = padding;
        Standardization = standardization;
        Eps = eps ?? (standardization == WeightStandardization.Timm ? TimmEps : DeepMindEps);
        Gamma = gamma;

        var fanIn = inChannels / groups * kernelSize * kernelSize;
        weight = new Parameter(empty(new[] { outChannels, inChannels / groups, kernelSize, kernelSize }, device: device));
        nn.init.normal_(weight, 0.0, 1.0 / Math.Sqrt(fanIn));
        bias = hasBias ? new Parameter(zeros(new[] { outChannels }, device: device)) : null;
        gain = new Parameter(ones(new[] { outChannels, 1L, 1L, 1L }, device: device));

        _stride = new[] { stride, stride };
        _dilation = new[] { dilation, dilation };
        if (padding == ConvPadding.Symmetric)
        {
            var p = ((stride - 1) + dilation * (kernelSize - 1)) / 2;
            _staticPadding = new[] { p, p };
        }
        else if (SamePadding.IsStatic(kernelSize, stride, dilation))
        {
            var p = (kernelSize - 1) * dilation / 2;
            _staticPadding = new[] { p, p };
        }
        else
        {
            _staticPadding = new[] { 0L, 0L };
            _dynamicSame = true;
        }
        RegisterComponents();
    }

    /// <summary>Input channels.</summary>
    public long InChannels { get; }
    /// <summary>Output channels.</summary>
    public long OutChannels { get; }
    /// <summary>Square kernel size.</summary>
    public long KernelSize { get; }
    /// <summary>Stride.</summary>
    public long Stride { get; }
    /// <summary>Dilation.</summary>
    public long Dilation { get; }
    /// <summary>Groups.</summary>
    public long Groups { get; }
    /// <summary>Padding mode.</summary>
    public ConvPadding Padding { get; }
    /// <summary>Standardization formula.</summary>
    public WeightStandardization Standardization { get; }
    /// <summary>Standardization epsilon.</summary>
    public double Eps { get; }
    /// <summary>Gain folded into the weight (1 for dm_ models, whose activations carry gamma).</summary>
    public double Gamma { get; }
    /// <summary>Fan-in of one output unit: <c>(I / g) · k²</c>.</summary>
    public long FanIn => InChannels / Groups * KernelSize * KernelSize;

    /// <summary>The raw weight [O, I/g, k, k].</summary>
    public Parameter Weight => weight;
    /// <summary>The bias [O], or null.</summary>
    public Parameter? Bias => bias;
    /// <summary>The learnable gain [O, 1, 1, 1].</summary>
    public Parameter Gain => gain;

    /// <summary>
    /// The weight the convolution uses: each output unit standardized to zero mean and variance <c>1/fan_in</c>
    /// (biased variance over its <c>(I/g)·k²</c> elements), times the gain (and <see cref="Gamma"/>).
    /// Differentiable with respect to weight and gain.
    /// </summary>
    public Tensor StandardizedWeight() => StandardizedWeight(1.0);

    /// <summary>
    /// <see cref="StandardizedWeight()"/> times <paramref name="inputScale"/>: the weight that convolves
    /// <c>inputScale · x</c> when given <c>x</c> (see <see cref="forward(Tensor, double)"/>). The scale multiplies the
    /// per-unit factor, so it costs nothing over the weight's own standardization.
    /// </summary>
    /// <param name="inputScale">A constant factor of the input (an activation's gamma, a block's beta).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="inputScale"/> is NaN or infinite.</exception>
    public Tensor StandardizedWeight(double inputScale) => Standardized(weight.dtype, inputScale);

    /// <summary>
    /// Standardize with the fused CPU kernels (<see cref="FusedWeightStandardization"/>: two passes over the weight
    /// forward and two backward, and in mixed precision the bf16 weight written directly) where they apply: float32
    /// weights on an x64 CPU with AVX2, computing in float32 or bf16 (bf16 weights keep libtorch's batch-norm, measured
    /// as fast). Default true; false when
    /// <see cref="PlatformSwitches.DisableFusedWeightStandardization"/> is on. Off, or where the kernels do not apply
    /// (CUDA, other dtypes), the weight is standardized by libtorch operations; both give the same values to float32
    /// rounding.
    /// </summary>
    public bool UseFusedStandardization { get; set; } = !PlatformSwitches.DisableFusedWeightStandardization.IsOn;

    /// <summary>
    /// Null when a forward computing in <paramref name="computeType"/> (default: the weight's dtype) standardizes with
    /// the fused kernels, else why not: <see cref="UseFusedStandardization"/> is off, the CPU lacks AVX2, the weights
    /// are not contiguous float32 CPU tensors (bf16 weights keep libtorch's batch-norm, measured as fast), or the
    /// compute dtype is neither float32 nor bf16.
    /// </summary>
    public string? FusedStandardizationIneligibility(ScalarType? computeType = null) =>
        UseFusedStandardization ? FusedWeightStandardization.DefaultIneligibility(weight, gain, computeType ?? weight.dtype)
            : $"{nameof(UseFusedStandardization)} is false";

    /// <summary>The convolution of <paramref name="input"/> (times the scale a <see cref="call(Tensor, double)"/> passed).</summary>
    public override Tensor forward(Tensor input) => forward(input, FoldedInputScale.For(this));

    /// <summary>
    /// <see cref="forward(Tensor, double)"/> through TorchSharp's <c>call()</c>: the forward pre-hooks and hooks registered
    /// on this convolution run (they see <paramref name="input"/> unscaled). The library's models call their convolutions
    /// this way.
    /// </summary>
    public Tensor call(Tensor input, double inputScale) => FoldedInputScale.Call(this, input, inputScale);

    /// <summary>
    /// Convolves <c>inputScale · input</c> without computing it: the constant scale is folded into the standardized
    /// weight (a convolution is linear), which saves a pass over the activations forward and another backward.
    /// NFNet blocks pass their activations' gamma (and the block's beta) this way.
    /// </summary>
    /// <param name="input">[N, <see cref="InChannels"/>, H, W].</param>
    /// <param name="inputScale">The factor the input should have been multiplied by.</param>
    /// <exception cref="InvalidInputException">The input is not 4-D or has the wrong channel count.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="inputScale"/> is NaN or infinite.</exception>
    public Tensor forward(Tensor input, double inputScale)
    {
        // A non-finite scale is refused by Standardized, which every path reaches: no cache entry can hold one.
        if (input.dim() != 4 || input.size(1) != InChannels)
            throw new InvalidInputException(
                $"ScaledWSConv2d expected input [N, {InChannels}, H, W], got {InvalidInputException.Describe(Shapes.Of(input))}", nameof(input));
        using var scope = NewDisposeScope();
        var computeType = input.is_floating_point() ? input.dtype : weight.dtype;
        using var lease = UseCache ? _cache.Acquire(weight, gain, computeType, inputScale, () => Detached(computeType, inputScale)) : null;
        var w = lease?.Weight ?? Standardized(computeType, inputScale);
        var b = bias is null ? null : Precision.Match(bias, computeType);
        var x = _dynamicSame ? SamePadding.Pad(input, KernelSize, Stride, Dilation) : input;
        return ConvolutionBackend.Conv2d(x, w, b, _stride, _staticPadding, _dilation, Groups).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Whether the standardized weight is served from the cache: only after <see cref="FreezeForInference"/>, and only
    /// while the convolution is in eval mode with frozen parameters. The first forward that sees training mode or a
    /// parameter that requires a gradient drops the freeze (and the cache) until <see cref="FreezeForInference"/> is
    /// called again, so a cached weight never outlives a change an optimizer could make.
    /// </summary>
    private bool UseCache
    {
        get
        {
            if (!_frozenForInference) return false;
            if (training || weight.requires_grad || gain.requires_grad || bias is { requires_grad: true })
            {
                _frozenForInference = false;
                _cache.Clear();
                return false;
            }
            return WeightCacheEnabled;
        }
    }

    /// <summary>
    /// Freezes the convolution for inference: eval mode, parameters with <c>requires_grad = false</c>, and the
    /// standardized weight computed once and reused (<see cref="Models.ImageClassifier.OptimizeForInference"/> calls it on every
    /// convolution of the model). The cached weight is exact, not guessed: it is recomputed after every weight write through
    /// <see cref="Weights.ModelWeights.Write(nn.Module, Action)"/> (every NfNet.NET loader, checkpoint, EMA swap and
    /// parameter broadcast goes through it), a move to another device or dtype, or a change of compute dtype or input
    /// scale, and dropped as soon as the convolution trains or a parameter is unfrozen. Writing into the frozen parameters
    /// by hand (<c>copy_</c> under <c>no_grad</c>) is the one change it cannot see: do it inside
    /// <see cref="Weights.ModelWeights.Write(nn.Module, Action)"/>. Forwards of a frozen convolution are safe from any
    /// number of threads at once.
    /// </summary>
    public void FreezeForInference()
    {
        eval();
        foreach (var p in parameters()) p.requires_grad_(false);
        _cache.Clear();
        _frozenForInference = true;
    }

    /// <summary>Cache the standardized weight of a convolution frozen by <see cref="FreezeForInference"/> (default
    /// true; false when <see cref="PlatformSwitches.DisableWeightCache"/> is on). Without the freeze the weight is
    /// recomputed on every forward.</summary>
    public bool WeightCacheEnabled { get; set; } = !PlatformSwitches.DisableWeightCache.IsOn;

    /// <summary>Forwards served from the cache (diagnostics and tests).</summary>
    public long WeightCacheHits => _cache.Hits;

    /// <summary>Drops the cached weight (<see cref="Weights.ModelWeights"/> calls it after every write).</summary>
    internal void DropCachedWeight() => _cache.Clear();

    /// <inheritdoc />
    public override void train(bool train = true)
    {
        if (train) _cache.Clear(); // the memory is freed as soon as training resumes
        base.train(train);
    }

    private Tensor Standardized(ScalarType computeType, double inputScale)
    {
        if (!double.IsFinite(inputScale))
            throw new ArgumentOutOfRangeException(nameof(inputScale), inputScale, "the input scale must be a finite number");
        var formula = new StandardizationFormula(Standardization, Eps, Gamma * inputScale);
        if (UseFusedStandardization && FusedWeightStandardization.DefaultIneligibility(weight, gain, computeType) is null)
            return FusedWeightStandardization.Standardize(weight, gain, formula, computeType);
        // Mixed precision without the fused kernels: standardized in the parameters' precision, then cast.
        var w = formula.Standardize(weight, gain);
        if (w.dtype == computeType) return w;
        using (w) return w.to(computeType);
    }

    // The weight the cache owns: contiguous, detached, outside every dispose scope.
    private Tensor Detached(ScalarType computeType, double inputScale)
    {
        using var scope = NewDisposeScope();
        return Standardized(computeType, inputScale).contiguous().detach().DetachFromDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _cache.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Output spatial size for an input of <paramref name="h"/> × <paramref name="w"/>.</summary>
    public (long H, long W) OutputSize(long h, long w)
    {
        if (Padding == ConvPadding.Same) return (SamePadding.OutputSize(h, Stride), SamePadding.OutputSize(w, Stride));
        long Out(long n) => (n + 2 * _staticPadding[0] - Dilation * (KernelSize - 1) - 1) / Stride + 1;
        return (Out(h), Out(w));
    }

    /// <summary>Multiply-accumulates of one forward pass on an <paramref name="h"/> × <paramref name="w"/> input (one image).</summary>
    public long CountMacs(long h, long w)
    {
        var (oh, ow) = OutputSize(h, w);
        return oh * ow * OutChannels * FanIn;
    }
}
