using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// One convolution's scaled weight standardization as data: the formula, its epsilon and the constant factor
/// (<c>gamma · inputScale</c>) folded into the per-unit scale. <see cref="Standardize"/> is the plain libtorch form; the
/// fused CPU kernels (<see cref="FusedWeightStandardization"/>) compute the same thing from the same record.
/// </summary>
/// <param name="Formula">timm's or DeepMind's formula.</param>
/// <param name="Eps">The formula's epsilon (inside the square root for timm, a floor for DeepMind).</param>
/// <param name="Factor">The constant the standardized weight is multiplied by (gamma times a folded input scale).</param>
internal readonly record struct StandardizationFormula(WeightStandardization Formula, double Eps, double Factor)
{
    /// <summary>
    /// The per-unit scale <c>c</c> of a unit with biased variance <paramref name="variance"/> over <paramref name="fan"/>
    /// values, so that <c>Ŵ = (W − mean) · gain · c</c>, and <c>k = −(∂c/∂var) · 2 / c</c>, the factor of the variance
    /// term in the backward pass (0 where DeepMind's floor holds the scale constant).
    /// </summary>
    public (double Scale, double Curvature) ScaleOf(double variance, long fan)
    {
        if (Formula == WeightStandardization.Timm)
        {
            // timm ScaledStdConv2d: gain · fan^-½ · (var + eps)^-½.
            var v = variance + Eps;
            return (Factor / Math.Sqrt(fan * v), 1.0 / v);
        }
        // DeepMind WSConv2D: rsqrt(max(var · fan, eps)); clamp_min passes the gradient where var · fan >= eps.
        var scaled = variance * fan;
        return scaled >= Eps ? (Factor / Math.Sqrt(scaled), 1.0 / variance) : (Factor / Math.Sqrt(Eps), 0.0);
    }

    /// <summary>
    /// The standardized weight by libtorch operations (differentiable, any device and dtype): <paramref name="weight"/>
    /// is [O, ...] with every unit's values after the first dimension, <paramref name="gain"/> has O values.
    /// </summary>
    public Tensor Standardize(Tensor weight, Tensor gain)
    {
        var o = weight.size(0);
        var fan = weight.numel() / Math.Max(o, 1);
        if (Formula == WeightStandardization.Timm)
        {
            // timm's trick: batch-norm over a [1, O, fan_in] view computes per-unit mean and biased variance in one op.
            using var scaledGain = gain.Times(Factor / Math.Sqrt(fan));
            using var g = scaledGain.reshape(o);
            using var flat = weight.reshape(1, o, -1);
            using var normed = nn.functional.batch_norm(flat, null, null, g, null, training: true, momentum: 0.0, eps: Eps);
            return normed.reshape(Shapes.Of(weight));
        }
        else
        {
            using var rows = weight.reshape(o, -1);
            using var mean = rows.mean(new long[] { 1 }, keepdim: true);
            using var variance = rows.var(1, unbiased: false, keepdim: true);
            using var eps = Eps.ToScalar();
            using var spread = variance.Times(fan);
            using var scaled = spread.clamp_min(eps).rsqrt_();
            using var centered = rows - mean;
            using var gains = gain.reshape(o, 1);
            using var gscale = scaled * gains;
            if (Factor != 1.0) gscale.TimesInPlace(Factor); // [O, 1]: folded before the weight-sized multiply
            using var product = centered * gscale;
            return product.reshape(Shapes.Of(weight));
        }
    }
}
