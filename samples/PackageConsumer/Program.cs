using NfNet.Models;
using static TorchSharp.torch;

// Built against the NfNet.Core and NfNet.Baselines packages, not the projects: proves the packages are complete and usable.
using var model = NFNet.Create("F0", device: META);
Console.WriteLine($"NfNet.Core package OK: {model.Config.Name} has {model.ParameterCount()} parameters, {model.CountMacs() / 1e9:F2} GMACs");
// The registry finds the comparison models of the NfNet.Baselines package by timm name, without touching its types.
using var resnet = ModelRegistry.Create("resnet50", device: META);
Console.WriteLine($"NfNet.Baselines package OK: resnet50 from the registry has {resnet.ParameterCount()} parameters");
