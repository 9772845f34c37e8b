// A .NET 10 file-based program: `dotnet run samples/file-based/train-fashion-mnist.cs -- [epochs] [data dir]`.
// Outside this repository, replace the #:project line with `#:package NfNet.Training@0.1.0` and keep the backend line.
#:project ../../src/NfNet.Training/NfNet.Training.csproj
#:package TorchSharp-cpu
using NfNet.Models;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Reporting;
using static TorchSharp.torch;

var epochs = args.Length > 0 ? int.Parse(args[0]) : 5;
var dataDir = args.Length > 1 ? args[1] : FashionMnist.DebianDirectory;
long? limit = args.Length > 2 ? long.Parse(args[2]) : null;

using var train = FashionMnist.Load(dataDir, "train", limit: limit);
using var test = FashionMnist.Load(dataDir, "t10k", limit: limit);
manual_seed(0);
using var model = new NFNet(FashionMnistRecipe.Model(width: 32));
using var trainer = new Trainer(model, 10, FashionMnistRecipe.Options(epochs) with { EmaDecay = 0.999 });
var history = ConsoleProgress.Fit(trainer, train, test);
Console.WriteLine($"test top-1 {history[^1].Test!.Top1:P2} (EMA {history[^1].TestEma!.Top1:P2}) after {epochs} epochs");
