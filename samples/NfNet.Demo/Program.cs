// The smallest complete training program with NfNet.NET: the README demo's recipe in a dozen lines of library calls.
// The demo itself is the nfnet tool (./scripts/demo.sh runs `nfnet train`); this sample is what to copy into your own
// application: dotnet run -c Release --project samples/NfNet.Demo -- [IDX_DIR] [EPOCHS]
using NfNet.Models;
using NfNet.Platform;
using NfNet.Training;
using NfNet.Training.Data;
using NfNet.Training.Reporting;
using static TorchSharp.torch;

var data = args.Length > 0 ? args[0] : FashionMnist.DebianDirectory;
var epochs = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20;
NativeAllocator.TuneForTensors();                          // an application's choice: keep freed tensor memory for reuse
using var train = FashionMnist.Load(data, "train");
using var test = FashionMnist.Load(data, "t10k");
manual_seed(0);
using var model = new NFNet(FashionMnistRecipe.Model(width: 32));
var options = FashionMnistRecipe.Options(epochs) with { CheckpointPath = "nfnet-sample-output/checkpoint.nfckpt" };
using var trainer = new Trainer(model, options);
ConsoleProgress.Fit(trainer, train, test);
TrainingPlots.SaveCurves(trainer.History, "nfnet-sample-output/curves.png");
Console.WriteLine($"test accuracy {trainer.History[^1].Test!.Top1:P2}");
