namespace NfNet.Layers;

/// <summary>
/// The nonlinearities an NFNet trunk can use. Each is applied as <c>gamma * act(x)</c>
/// (see <see cref="ActivationGammas"/>), so that a unit-Gaussian input gives a unit-variance output.
/// </summary>
public enum ActivationKind
{
    /// <summary>Identity, gamma 1.</summary>
    Identity,
    /// <summary>CELU (alpha 1).</summary>
    Celu,
    /// <summary>ELU (alpha 1).</summary>
    Elu,
    /// <summary>GELU, exact erf form (timm's <c>F.gelu</c>; loads timm weights exactly). The default.</summary>
    Gelu,
    /// <summary>GELU, tanh approximation (<c>jax.nn.gelu</c>'s default, as the DeepMind reference runs). Same gamma.</summary>
    GeluTanh,
    /// <summary>GLU over the channel dimension. It halves the channel count, so it cannot be an NFNet trunk activation.</summary>
    Glu,
    /// <summary>Leaky ReLU (negative slope 0.01).</summary>
    LeakyRelu,
    /// <summary>log(sigmoid(x)).</summary>
    LogSigmoid,
    /// <summary>log_softmax over the channel dimension.</summary>
    LogSoftmax,
    /// <summary>ReLU.</summary>
    Relu,
    /// <summary>ReLU6.</summary>
    Relu6,
    /// <summary>SELU.</summary>
    Selu,
    /// <summary>Sigmoid.</summary>
    Sigmoid,
    /// <summary>SiLU (swish).</summary>
    Silu,
    /// <summary>x / (1 + |x|).</summary>
    Softsign,
    /// <summary>Softplus (beta 1).</summary>
    Softplus,
    /// <summary>tanh.</summary>
    Tanh,
}
