using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Augmentation;

/// <summary>
/// MixUp and CutMix (spec §11) with label mixing, on a batch paired with its reverse (image i with image B−1−i).
/// MixUp: <c>r ~ Beta(α, α)</c> per pair, <c>x = r·A + (1−r)·B</c>, <c>y = r·yA + (1−r)·yB</c>. CutMix: a box with sides
/// <c>int(√(1−U)·W)</c> × <c>int(√(1−U)·H)</c>, U ~ U(0,1), uniform centre, clipped to the image; A outside is replaced by
/// B inside, and A's label weight is the fraction of the image A still covers, so the weights match the box area exactly.
/// Each pair uses CutMix with probability <see cref="CutMixProbability"/>, MixUp otherwise.
/// </summary>
public sealed class MixUpCutMix(double mixUpAlpha = 0.2, double cutMixProbability = 0.5)
{
    /// <summary>α of the Beta distribution of MixUp (0.2 in the paper).</summary>
    public double MixUpAlpha { get; } = mixUpAlpha > 0 ? mixUpAlpha : throw new ArgumentOutOfRangeException(nameof(mixUpAlpha));
    /// <summary>Share of examples mixed with CutMix (the paper: half).</summary>
    public double CutMixProbability { get; } = cutMixProbability is >= 0 and <= 1 ? cutMixProbability : throw new ArgumentOutOfRangeException(nameof(cutMixProbability));

    /// <summary>The weight of the first image of each pair after the last <see cref="Apply"/> (for tests and logs).</summary>
    public double[] LastWeights { get; private set; } = Array.Empty<double>();

    /// <summary>Mixes <paramref name="images"/> [B, C, H, W] and returns soft targets [B, classes] in float32.</summary>
    public (Tensor Images, Tensor Targets) Apply(Tensor images, Tensor labels, int classes, Random random)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        using var scope = NewDisposeScope();
        long b = images.size(0), h = images.size(2), w = images.size(3);
        var other = images.flip(0);
        var masks = new float[b * h * w];
        var weights = new double[b];
        for (var i = 0; i < b; i++)
        {
            if (random.NextDouble() < CutMixProbability)
            {
                var u = random.NextDouble();
                var cutW = (int)(Math.Sqrt(1 - u) * w);
                var cutH = (int)(Math.Sqrt(1 - u) * h);
                var cy = random.Next((int)h);
                var cx = random.Next((int)w);
                int y0 = Math.Clamp(cy - cutH / 2, 0, (int)h), y1 = Math.Clamp(cy + cutH / 2, 0, (int)h);
                int x0 = Math.Clamp(cx - cutW / 2, 0, (int)w), x1 = Math.Clamp(cx + cutW / 2, 0, (int)w);
                var inside = 0;
                for (var y = 0; y < h; y++)
                    for (var x = 0; x < w; x++)
                    {
                        var keep = !(y >= y0 && y < y1 && x >= x0 && x < x1);
                        masks[(i * h + y) * w + x] = keep ? 1f : 0f;
                        if (!keep) inside++;
                    }
                weights[i] = 1.0 - (double)inside / (h * w);
            }
            else
            {
                var r = SampleBeta(random, MixUpAlpha);
                weights[i] = r;
                for (var p = 0; p < h * w; p++) masks[i * h * w + p] = float.NaN; // marks MixUp: use r below
            }
        }
        var mask = tensor(masks, new long[] { b, 1, h, w });
        var r8 = tensor(weights.Select(v => (float)v).ToArray()).reshape(b, 1, 1, 1);
        var isMix = mask.isnan();
        var m = where(isMix, r8.expand(b, 1, h, w), mask).to(images.dtype);
        var mixed = (images * m).Plus(other * m.neg().Plus(1L));
        var oneHot = nn.functional.one_hot(labels, classes).to(ScalarType.Float32);
        var wt = tensor(weights.Select(v => (float)v).ToArray()).reshape(b, 1);
        var targets = (oneHot * wt).Plus(oneHot.flip(0) * wt.neg().Plus(1L));
        LastWeights = weights;
        return (mixed.MoveToOuterDisposeScope(), targets.MoveToOuterDisposeScope());
    }

    /// <summary>Beta(α, α) from two Gamma(α) draws (Marsaglia–Tsang, with the α &lt; 1 boost).</summary>
    private static double SampleBeta(Random random, double alpha)
    {
        var a = SampleGamma(random, alpha);
        var b = SampleGamma(random, alpha);
        return a + b == 0 ? 0.5 : a / (a + b);
    }

    private static double SampleGamma(Random random, double alpha)
    {
        if (alpha < 1) return SampleGamma(random, alpha + 1) * Math.Pow(random.NextDouble(), 1 / alpha);
        var d = alpha - 1.0 / 3;
        var c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal(random);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            var u = random.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
