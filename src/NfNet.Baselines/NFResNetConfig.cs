using NfNet.Layers;

namespace NfNet.Models.Baselines;

/// <summary>
/// A normalizer-free pre-activation ResNet (Brock et al. 2021a, "Characterizing signal propagation to close the
/// performance gap in unnormalized ResNets"; DeepMind's <c>nf_resnet.py</c>), as data. The defaults are NF-ResNet-50:
/// the BN-ResNet-50 layout with every batch norm removed, scaled weight-standardized convolutions, gamma-scaled ReLUs,
/// the residual <c>x + alpha · skip_gain · f(relu(x) · beta)</c> with beta = 1/expected std, alpha = 0.2 and a zero-initialised
/// scalar skip gain per block.
/// </summary>
public sealed record NFResNetConfig
{
    /// <summary>Name.</summary>
    public string Name { get; init; } = "dm_nf_resnet50";
    /// <summary>Blocks per stage.</summary>
    public IReadOnlyList<int> Depths { get; init; } = new[] { 3, 4, 6, 3 };
    /// <summary>Bottleneck widths per stage (the block output is <see cref="Expansion"/>× this).</summary>
    public IReadOnlyList<int> Widths { get; init; } = new[] { 64, 128, 256, 512 };
    /// <summary>Stem width (7×7/2 scaled WS conv without bias).</summary>
    public int StemWidth { get; init; } = 64;
    /// <summary>Use the 3×3/2 max-pool after the stem (false for small images such as 28×28 or 32×32).</summary>
    public bool StemPool { get; init; } = true;
    /// <summary>Block expansion (output = 4 × bottleneck width).</summary>
    public int Expansion { get; init; } = 4;
    /// <summary>Residual branch scale alpha (0.2 in the paper).</summary>
    public double Alpha { get; init; } = 0.2;
    /// <summary>Nonlinearity (ReLU in NF-ResNets), applied with its gamma.</summary>
    public ActivationKind Activation { get; init; } = ActivationKind.Relu;
    /// <summary>Standardization formula of the convolutions (DeepMind's by default).</summary>
    public WeightStandardization Standardization { get; init; } = WeightStandardization.DeepMind;
    /// <summary>Network-wide stochastic depth rate (block i drops with rate · i / N; 0.1 in DeepMind's code).</summary>
    public double StochasticDepthRate { get; init; }
    /// <summary>Dropout before the classifier.</summary>
    public double DropRate { get; init; }
    /// <summary>Classes (0 for a feature extractor).</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>Input channels.</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Checks the configuration.</summary>
    /// <exception cref="InvalidBaselineConfigException">Lengths differ, or a size or rate is out of range.</exception>
    public void Validate()
    {
        if (ModelLimits.Exceeded(Widths.Append(StemWidth), Depths, InChannels, NumClasses) is { } exceeded)
            throw new InvalidBaselineConfigException($"NFResNetConfig '{Name}': {exceeded}");
        if (Depths.Count == 0 || Depths.Count != Widths.Count)
            throw new InvalidBaselineConfigException($"NFResNetConfig '{Name}': {Depths.Count} depths but {Widths.Count} widths");
        if (Depths.Any(d => d <= 0) || Widths.Any(w => w <= 0) || StemWidth <= 0 || Expansion <= 0 || NumClasses < 0 || InChannels <= 0)
            throw new InvalidBaselineConfigException($"NFResNetConfig '{Name}': sizes must be positive");
        if (!(Alpha > 0) || !(StochasticDepthRate >= 0 && StochasticDepthRate < 1) || !(DropRate >= 0 && DropRate < 1))
            throw new InvalidBaselineConfigException($"NFResNetConfig '{Name}': alpha must be > 0 and the drop rates in [0, 1)");
    }
}
