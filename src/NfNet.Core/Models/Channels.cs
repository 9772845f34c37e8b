namespace NfNet.Models;

/// <summary>Channel rounding, as timm's <c>make_divisible</c>.</summary>
internal static class Channels
{
    /// <summary>
    /// Rounds <paramref name="value"/> to the nearest multiple of <paramref name="divisor"/> (at least the divisor),
    /// bumping up one divisor if that lost more than <c>1 − roundLimit</c> of the value.
    /// </summary>
    public static int MakeDivisible(double value, int divisor, double roundLimit = 0.9)
    {
        var rounded = Math.Max(divisor, (int)(value + divisor / 2.0) / divisor * divisor);
        if (rounded < roundLimit * value) rounded += divisor;
        return rounded;
    }
}
