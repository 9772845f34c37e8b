namespace NfNet.Layers;

/// <summary>
/// The variance-preserving gains of Brock et al. 2021: <c>gamma = 1 / sqrt(Var[act(z)])</c> for z ~ N(0, 1).
/// Values are the DeepMind reference's (<c>nfnets/base.py</c>, <c>nonlinearities</c>), which timm's
/// <c>_nonlin_gamma</c> copies; they are data, not code.
/// </summary>
public static class ActivationGammas
{
    /// <summary>Gamma of GELU (both flavours): 1.7015043497085571.</summary>
    public const double Gelu = 1.7015043497085571;

    /// <summary>Gamma of ReLU: 1.7139588594436646.</summary>
    public const double Relu = 1.7139588594436646;

    /// <summary>Gamma of SiLU: 1.7881293296813965.</summary>
    public const double Silu = 1.7881293296813965;

    private static readonly IReadOnlyDictionary<ActivationKind, double> Table = new Dictionary<ActivationKind, double>
    {
        [ActivationKind.Identity] = 1.0,
        [ActivationKind.Celu] = 1.270926833152771,
        [ActivationKind.Elu] = 1.2716004848480225,
        [ActivationKind.Gelu] = Gelu,
        [ActivationKind.GeluTanh] = Gelu,
        [ActivationKind.Glu] = 1.8484294414520264,
        [ActivationKind.LeakyRelu] = 1.70590341091156,
        [ActivationKind.LogSigmoid] = 1.9193484783172607,
        [ActivationKind.LogSoftmax] = 1.0002083778381348,
        [ActivationKind.Relu] = Relu,
        [ActivationKind.Relu6] = 1.7131484746932983,
        [ActivationKind.Selu] = 1.0008515119552612,
        [ActivationKind.Sigmoid] = 4.803835391998291,
        [ActivationKind.Silu] = Silu,
        [ActivationKind.Softsign] = 2.338853120803833,
        [ActivationKind.Softplus] = 1.9203323125839233,
        [ActivationKind.Tanh] = 1.5939117670059204,
    };

    /// <summary>All activations with their gammas.</summary>
    public static IReadOnlyDictionary<ActivationKind, double> All => Table;

    /// <summary>The gamma of <paramref name="kind"/>.</summary>
    public static double Of(ActivationKind kind) =>
        Table.TryGetValue(kind, out var g) ? g : throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation");

    /// <summary>
    /// Parses a timm / DeepMind activation name (<c>gelu</c>, <c>gelu_tanh</c>, <c>relu</c>, <c>silu</c>/<c>swish</c>,
    /// <c>soft_sign</c>/<c>softsign</c>, …), case-insensitively.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not one of the activations with a known gamma.</exception>
    public static ActivationKind Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.Trim().ToLowerInvariant().Replace("-", "_");
        return key switch
        {
            "identity" or "linear" => ActivationKind.Identity,
            "celu" => ActivationKind.Celu,
            "elu" => ActivationKind.Elu,
            "gelu" => ActivationKind.Gelu,
            "gelu_tanh" or "gelu_approximate" => ActivationKind.GeluTanh,
            "glu" => ActivationKind.Glu,
            "leaky_relu" => ActivationKind.LeakyRelu,
            "log_sigmoid" => ActivationKind.LogSigmoid,
            "log_softmax" => ActivationKind.LogSoftmax,
            "relu" => ActivationKind.Relu,
            "relu6" => ActivationKind.Relu6,
            "selu" => ActivationKind.Selu,
            "sigmoid" => ActivationKind.Sigmoid,
            "silu" or "swish" => ActivationKind.Silu,
            "soft_sign" or "softsign" => ActivationKind.Softsign,
            "softplus" => ActivationKind.Softplus,
            "tanh" => ActivationKind.Tanh,
            _ => throw new ArgumentException(
                $"unknown activation '{name}'; expected one of: {string.Join(", ", Table.Keys.Select(k => k.ToString()))}",
                nameof(name)),
        };
    }
}
