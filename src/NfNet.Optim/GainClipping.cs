namespace NfNet.Optim;

/// <summary>How AGC treats a per-channel gain stored as [O, 1, 1, 1] (the layout of NfNet.NET and timm).</summary>
public enum GainClipping
{
    /// <summary>timm's <c>unitwise_norm</c>: rank ≥ 2, so each output unit (one element) is clipped on its own. The default.</summary>
    Elementwise,

    /// <summary>DeepMind's: the gain is an (O,) vector there, so the whole tensor is clipped with one norm.</summary>
    WholeVector,
}
