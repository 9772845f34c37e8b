namespace NfNet.Layers;

/// <summary>The two stochastic-depth conventions found in NFNet code.</summary>
public enum StochasticDepthMode
{
    /// <summary>
    /// DeepMind's: block i of n drops with probability <c>rate · i / n</c> (block 0 never drops) and the kept
    /// residual is <b>not</b> rescaled by 1/keep. The reference for reproducing the paper; the default.
    /// </summary>
    DeepMind,

    /// <summary>timm's <c>DropPath</c>: rates <c>linspace(0, rate, n)</c> (the last block gets exactly the rate), kept residuals scaled by 1/keep.</summary>
    Timm,
}
