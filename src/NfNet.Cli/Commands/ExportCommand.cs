using System.ComponentModel;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using NfNet.Onnx;
using NfNet.Weights;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace NfNet.Cli.Commands;

/// <summary><c>nfnet export</c>'s options.</summary>
public sealed class ExportSettings : ModelSourceSettings
{
    [CommandOption("--onnx <FILE>")]
    [Description("Write an ONNX file (folded for inference), then run it in ONNX Runtime against TorchSharp")]
    public string? Onnx { get; init; }

    [CommandOption("--safetensors <FILE>")]
    [Description("Write the weights as safetensors with timm's names")]
    public string? Safetensors { get; init; }

    [CommandOption("--opset <N>")]
    [DefaultValue(20)]
    public int Opset { get; init; } = 20;

    [CommandOption("--resolution <PX>")]
    [Description("The ONNX input size (default: the model's test size)")]
    public int? Resolution { get; init; }

    [CommandOption("--static-batch")]
    [Description("A fixed batch of 1 instead of a dynamic batch dimension")]
    public bool StaticBatch { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        Onnx is null && Safetensors is null ? Spectre.Console.ValidationResult.Error("give --onnx FILE and/or --safetensors FILE")
        : Onnx is null && (Resolution is not null || StaticBatch) ? Spectre.Console.ValidationResult.Error("--resolution and --static-batch apply to --onnx")
        : Spectre.Console.ValidationResult.Success();
}

/// <summary><c>nfnet export</c>: timm's <c>onnx_export.py</c> — an ONNX file checked in ONNX Runtime against TorchSharp,
/// and/or safetensors.</summary>
public sealed class ExportCommand : Command<ExportSettings>
{
    public override int Execute(CommandContext context, ExportSettings s, CancellationToken cancellationToken)
    {
        using var model = ModelSource.Load(s, Console.WriteLine);
        if (s.Safetensors is { } st)
        {
            model.SaveSafetensors(st);
            Console.WriteLine($"  safetensors  {Path.GetFullPath(st)}");
        }
        if (s.Onnx is not { } onnx) return 0;
        var size = s.Resolution ?? model.PretrainedConfig.TestInputSize;
        model.ExportOnnx(onnx, size, size, new OnnxExportOptions { Opset = s.Opset, DynamicBatch = !s.StaticBatch });
        Console.WriteLine($"  onnx         {Path.GetFullPath(onnx)} ({new FileInfo(onnx).Length / 1e6:F1} MB, opset {s.Opset}, {size}x{size})");
        // The file is checked the way a user will run it: in ONNX Runtime, against TorchSharp on the same random batch.
        var batch = s.StaticBatch ? 1 : 2;
        using var scope = NewDisposeScope();   // holds the check's temporaries while libtorch reads them
        manual_seed(0);
        using var x = randn(batch, model.InChannels, size, size);
        float[] expected;
        using (no_grad())
        using (var logits = model.forward(x).to(ScalarType.Float32).contiguous())
            expected = logits.data<float>().ToArray();
        using var session = new InferenceSession(onnx);
        var input = new DenseTensor<float>(x.contiguous().data<float>().ToArray(), new[] { batch, model.InChannels, size, size });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), input) });
        var actual = results.Single().AsTensor<float>().ToArray();
        if (actual.Any(float.IsNaN) || expected.Any(float.IsNaN))
            throw new CliException("the exported file gives NaN in ONNX Runtime (or the model does in TorchSharp): please report it");
        var difference = actual.Zip(expected, (a, e) => Math.Abs((double)a - e)).Max();
        var scale = expected.Max(v => Math.Abs((double)v));
        Console.WriteLine($"  checked in ONNX Runtime: max |ONNX Runtime − TorchSharp| = {difference:E2} on logits of scale {scale:G3} (batch {batch})");
        if (!(difference <= 1e-3 * Math.Max(1, scale)))
            throw new CliException($"the exported file differs from the model by {difference:E2} in ONNX Runtime: please report it");
        return 0;
    }
}
