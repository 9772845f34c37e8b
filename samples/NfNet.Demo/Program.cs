// NfNet.NET demo: build an NFNet from the variant table, print its summary, and classify a random image.
//   dotnet run -c Release --project samples/NfNet.Demo -- [--variant F0] [--resolution 256] [--bf16] [--seed 0]
using System.Diagnostics;
using NfNet;
using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

var variant = "F0";
int? resolution = null;
var bf16 = false;
var seed = 0L;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--variant": variant = args[++i]; break;
        case "--resolution": resolution = int.Parse(args[++i]); break;
        case "--bf16": bf16 = true; break;
        case "--seed": seed = long.Parse(args[++i]); break;
        case "-h" or "--help":
            Console.WriteLine("usage: NfNet.Demo [--variant F0..F7] [--resolution PX] [--bf16] [--seed N]");
            return 0;
        default:
            Console.Error.WriteLine($"unknown option '{args[i]}' (try --help)");
            return 2;
    }
}

try
{
    manual_seed(seed);
    var sw = Stopwatch.StartNew();
    using var model = NFNet.Create(variant);
    var buildSeconds = sw.Elapsed.TotalSeconds;
    var res = resolution ?? model.Config.EvalResolution;
    Console.WriteLine(model.Summary(res));
    Console.WriteLine($"  built in {buildSeconds:F1} s on {(cuda.is_available() ? "CUDA" : "CPU")}, {get_num_threads()} threads");
    Console.WriteLine();

    var dtype = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
    if (bf16) model.to(dtype);
    model.eval();
    using var image = randn(1, model.Config.InChannels, res, res).to(dtype);
    using var _ = no_grad();

    sw.Restart();
    using var logits = model.forward(image);
    var seconds = sw.Elapsed.TotalSeconds;
    using var probs = nn.functional.softmax(logits.to(ScalarType.Float32), 1);
    var (values, indices) = probs.topk(5);
    Console.WriteLine($"Forward pass: 1 x {model.Config.InChannels} x {res} x {res} random image, {dtype}, eval mode");
    Console.WriteLine($"  logits {string.Join("x", logits.shape)} in {seconds * 1000:F0} ms " +
                      $"({model.CountMacs(res, res) / 1e9:F2} GMACs, {2 * model.CountMacs(res, res) / 1e9 / seconds:F0} GFLOP/s)");
    Console.WriteLine("  top-5 classes of an untrained network (random weights, so near-uniform):");
    for (var k = 0; k < 5; k++)
        Console.WriteLine($"    class {indices[0, k].item<long>(),4}  p = {values[0, k].item<float>():F5}");
    return 0;
}
catch (UnknownVariantException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
