using System.Diagnostics;
using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Demo;

/// <summary>Builds a full-size NFNet from the variant table, prints its summary and classifies a random image.</summary>
internal static class InferenceDemo
{
    public static int Run(string variant, int? resolution, bool bf16, long seed)
    {
        manual_seed(seed);
        var sw = Stopwatch.StartNew();
        using var model = NFNet.Create(variant);
        var buildSeconds = sw.Elapsed.TotalSeconds;
        var res = resolution ?? model.PretrainedConfig.TestInputSize;
        Console.WriteLine(model.Summary(res));
        Console.WriteLine($"  built in {buildSeconds:F1} s on {(cuda.is_available() ? "CUDA" : "CPU")}, {get_num_threads()} threads");
        Console.WriteLine();
        var dtype = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        model.eval();
        using var image = randn(1, model.InChannels, res, res).to(dtype);
        using var _ = no_grad();
        sw.Restart();
        using var logits = model.forward(image);
        var seconds = sw.Elapsed.TotalSeconds;
        using var probs = nn.functional.softmax(logits.to(ScalarType.Float32), 1);
        var (values, indices) = probs.topk(5);
        Console.WriteLine($"Forward pass: 1 x {model.InChannels} x {res} x {res} random image, {dtype} activations, eval mode");
        Console.WriteLine($"  logits {string.Join("x", logits.shape)} in {seconds * 1000:F0} ms " +
                          $"({model.CountMacs(res, res) / 1e9:F2} GMACs, {2 * model.CountMacs(res, res) / 1e9 / seconds:F0} GFLOP/s)");
        for (var k = 0; k < 5; k++)
            Console.WriteLine($"    class {indices[0, k].item<long>(),4}  p = {values[0, k].item<float>():F5}");
        return 0;
    }
}
