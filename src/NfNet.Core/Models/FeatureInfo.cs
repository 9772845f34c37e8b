namespace NfNet.Models;

/// <summary>One feature map a backbone offers (timm's <c>feature_info</c> entry): its channels, its reduction (the
/// network's stride at that point) and the module whose output it is.</summary>
/// <param name="Channels">Channels of the map.</param>
/// <param name="Reduction">Input pixels per map pixel along each side (2, 4, 8, 16, 32; smaller at output stride 16 or 8).</param>
/// <param name="Module">The module's state-dict path (<c>stem.conv3</c>, <c>stages.1</c>, <c>final_conv</c>).</param>
public sealed record FeatureInfo(int Channels, int Reduction, string Module);
