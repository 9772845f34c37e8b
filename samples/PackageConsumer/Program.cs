using NfNet.Models;
using static TorchSharp.torch;

// Built against the NfNet.Core package, not the project: proves the package is complete and usable.
using var model = NFNet.Create("F0", device: META);
Console.WriteLine($"NfNet.Core package OK: {model.Config.Name} has {model.ParameterCount()} parameters, {model.CountMacs() / 1e9:F2} GMACs");
