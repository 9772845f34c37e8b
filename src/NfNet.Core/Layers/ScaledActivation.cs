using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// <c>gamma · act(x)</c>: a nonlinearity rescaled so that it preserves unit variance for unit-Gaussian inputs
/// (Brock et al. 2021, §2; gammas in <see cref="ActivationGammas"/>). Has no parameters.
/// </summary>
public sealed class ScaledActivation : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the activation; <paramref name="gamma"/> defaults to the table value of <paramref name="kind"/>.</summary>
    public ScaledActivation(ActivationKind kind, double? gamma = null) : base(nameof(ScaledActivation))
    {
        Kind = kind;
        Gamma = gamma ?? ActivationGammas.Of(kind);
        RegisterComponents();
    }

    /// <summary>The nonlinearity.</summary>
    public ActivationKind Kind { get; }

    /// <summary>The gain applied to its output.</summary>
    public double Gamma { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        var y = Apply(Kind, input);
        if (Gamma == 1.0) return y;
        using (y) return y.Times(Gamma);
    }

    /// <summary>
    /// <c>act(x)</c> without the gamma: for a caller that folds <see cref="Gamma"/> into what comes next (an NFNet block
    /// passes it to the following <see cref="ScaledWSConv2d.forward(Tensor, double)"/>), saving a pass over the activations.
    /// </summary>
    public Tensor ForwardUnscaled(Tensor input) => Apply(Kind, input);

    // PyTorch's default negative slope (torch.nn.LeakyReLU).
    private static readonly Scalar LeakyReluSlope = 0.01.ToScalar();

    // log(1 + e^x) as max(x, 0) + log1p(e^-|x|): stable for any x and equal to PyTorch's softplus (beta 1, threshold 20)
    // to the last bit in float32 (above 20, log1p(e^-x) < 2.1e-9 is below half an ulp of x). TorchSharp's softplus takes
    // its beta and threshold as numbers it converts to Scalars it never disposes (see Platform.Scalars).
    private static Tensor Softplus(Tensor x)
    {
        using var scope = NewDisposeScope();
        return nn.functional.relu(x).add(x.abs().neg().exp().log1p(), Scalars.One).MoveToOuterDisposeScope();
    }

    // libtorch hands GELU to oneDNN's kernel (forward and backward) only for a contiguous tensor; a float32 channels-last
    // activation (NarrowChannelConvolution's rule on AVX2 CPUs, ChannelsLastConvolution's on AMX) would take libtorch's
    // own, slower erf kernel (benchmarks/README.md, "Narrow convolutions on AVX2"). GELU is elementwise, so it runs on
    // the tensor's NHWC view, which is contiguous, and is viewed back: the same kernel, and the same values, as on a
    // channels-first tensor.
    private static Tensor Gelu(Tensor x)
    {
        if (x.dtype != ScalarType.Float32 || x.is_contiguous() || !ChannelsLastConvolution.IsChannelsLast(x)) return nn.functional.gelu(x);
        using var nhwc = x.permute(0, 2, 3, 1);
        using var y = nn.functional.gelu(nhwc);
        return y.permute(0, 3, 1, 2);
    }

    // x / (1 + |x|).
    private static Tensor Softsign(Tensor x)
    {
        using var scope = NewDisposeScope();
        return x.div(x.abs().add(Scalars.One, Scalars.One)).MoveToOuterDisposeScope();
    }

    /// <summary>The unscaled nonlinearity <paramref name="kind"/> applied to <paramref name="x"/> (channel dim 1 where it matters).</summary>
    public static Tensor Apply(ActivationKind kind, Tensor x) => kind switch
    {
        ActivationKind.Identity => x.alias(),
        ActivationKind.Celu => x.celu(Scalars.One),
        ActivationKind.Elu => x.elu(Scalars.One, Scalars.One, Scalars.One),
        ActivationKind.Gelu => Gelu(x),
        ActivationKind.GeluTanh => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        ActivationKind.Glu => nn.functional.glu(x, 1),
        ActivationKind.LeakyRelu => x.leaky_relu(LeakyReluSlope),
        ActivationKind.LogSigmoid => nn.functional.logsigmoid(x),
        ActivationKind.LogSoftmax => nn.functional.log_softmax(x, 1),
        ActivationKind.Relu => nn.functional.relu(x),
        ActivationKind.Relu6 => nn.functional.relu6(x),
        ActivationKind.Selu => nn.functional.selu(x),
        ActivationKind.Sigmoid => nn.functional.sigmoid(x),
        ActivationKind.Silu => nn.functional.silu(x),
        ActivationKind.Softsign => Softsign(x),
        ActivationKind.Softplus => Softplus(x),
        ActivationKind.Tanh => nn.functional.tanh(x),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation"),
    };
}
