using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using NfNet.Models;
using NfNet.Onnx;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace NfNet.Benchmarks;

/// <summary>
/// Inference latency of F0 (float32, its 256 px eval size; NFNET_BENCH_INFER_RES overrides) at batch 1 and 8 in one run:
/// ONNX Runtime (CPU, default threads) on the exported, folded graph against TorchSharp's eval path with the cached
/// standardized weights (<see cref="ImageClassifier.OptimizeForInference"/>). The exported file's size is printed at setup.
/// </summary>
public class OnnxInferenceBenchmark
{
    private ImageClassifier _model = null!;
    private Tensor _images = null!;
    private InferenceSession _session = null!;
    private NamedOnnxValue[] _inputs = null!;
    private string _path = "";

    /// <summary>Which runtime runs the forward pass.</summary>
    [Params("TorchSharp", "OnnxRuntime")]
    public string Runtime { get; set; } = "TorchSharp";

    /// <summary>Images per call.</summary>
    [Params(1, 8)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        AllocatorSetting.Apply();
        manual_seed(0);
        var (res, _) = BenchmarkTarget.InferenceSize("F0");
        _model = ModelRegistry.Create("dm_nfnet_f0");
        _model.OptimizeForInference();
        _images = randn(Batch, 3, res, res);
        if (Runtime == "OnnxRuntime")
        {
            _path = Path.Combine(Path.GetTempPath(), $"nfnet-bench-f0-{res}-{Environment.ProcessId}.onnx");
            _model.ExportOnnx(_path, res, res);
            _session = new InferenceSession(_path);
            var dense = new DenseTensor<float>(_images.data<float>().ToArray(), new[] { Batch, 3, res, res });
            _inputs = new[] { NamedOnnxValue.CreateFromTensor("images", dense) };
            Console.WriteLine($"// F0 exported for {res}px: {new FileInfo(_path).Length / 1e6:F1} MB");
        }
        Console.WriteLine($"// F0 {Runtime} {res}px batch {Batch}: {_model.CountMacs(res, res) / 1e9:F3} GMACs per image");
    }

    [Benchmark]
    public void Forward()
    {
        if (Runtime == "OnnxRuntime")
        {
            using var results = _session.Run(_inputs);
            return;
        }
        using var scope = NewDisposeScope();
        _model.forward(_images);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.Report($"inference ({Runtime}, batch {Batch})");
        _session?.Dispose();
        if (File.Exists(_path)) File.Delete(_path);
        _model.Dispose();
        _images.Dispose();
    }
}
