namespace NfNet.Models;

/// <summary>RandAugment's number of ops per image and their magnitude, as the NFNet recipe sets them per variant.</summary>
/// <param name="Layers">Ops applied per image (4 for every NFNet).</param>
/// <param name="Magnitude">Op magnitude (5 for F0, 10 for F1–F2, 15 for F3–F7).</param>
public readonly record struct RandAugmentSetting(int Layers, int Magnitude)
{
    /// <inheritdoc />
    public override string ToString() => $"{Layers}x{Magnitude}";
}
