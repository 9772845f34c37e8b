namespace NfNet.Layers;

/// <summary>Which scaled weight standardization formula a <see cref="ScaledWSConv2d"/> uses.</summary>
public enum WeightStandardization
{
    /// <summary>
    /// timm's <c>ScaledStdConv2d</c>: <c>Ŵ = (W − mean) / sqrt(var + eps) · gain · gamma · fan_in^-½</c>,
    /// eps inside the square root (1e-5 for NFNets). Loads timm weights exactly. The default.
    /// </summary>
    Timm,

    /// <summary>
    /// DeepMind's <c>WSConv2D</c>: <c>Ŵ = (W − mean) · gain · rsqrt(max(var · fan_in, eps))</c> with eps = 1e-4
    /// applied through a max.
    /// </summary>
    DeepMind,
}
