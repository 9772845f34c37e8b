using System.Text.RegularExpressions;
using NfNet.Layers;
using NfNet.Models.Baselines;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>EfficientNetV2 (<see cref="EfficientNetV2"/>): every batch norm folded into the conv before it, SiLU as
/// <c>x · sigmoid(x)</c>, the Squeeze-Excite gate, stochastic depth and dropout as identities.</summary>
internal sealed partial class EfficientNetV2Export : GraphWriter
{
    private EfficientNetV2Export(EfficientNetV2 model, OnnxGraph graph, long height, long width) : base(model, graph, height, width) { }

    [GeneratedRegex(@"^blocks\.\d+_\d+$")]
    private static partial Regex BlockPath();

    public static string Write(EfficientNetV2 model, OnnxGraph graph, string input, long height, long width)
    {
        var e = new EfficientNetV2Export(model, graph, height, width);
        var x = e.Silu(e.PlainConv("conv_stem", input, "bn1"));
        foreach (var path in e._modules.Keys.Where(k => BlockPath().IsMatch(k)).ToArray())
            x = e._modules[path] switch
            {
                MBConv block => e.MBConv(path, block, x),
                FusedMBConv block => e.FusedMBConv(path, block, x),
                var other => throw new OnnxExportException($"the exporter does not know {other.GetType().Name} at '{path}'"),
            };
        x = e.Silu(e.PlainConv("conv_head", x, "bn2"));
        return e.Head(x, "classifier");
    }

    private string Silu(string x) => Activation(ActivationKind.Silu, x);

    private string MBConv(string name, MBConv block, string x)
    {
        var h = x;
        if (Has($"{name}.conv_pw")) h = Silu(PlainConv($"{name}.conv_pw", h, $"{name}.bn1"));
        h = Silu(PlainConv($"{name}.conv_dw", h, $"{name}.bn2"));
        if (Has($"{name}.se"))
        {
            var se = Module<SqueezeExcite>($"{name}.se");
            var s = _g.Node("GlobalAveragePool", $"{name}.se_pool", h);
            s = Activation(se.Activation, Dense($"{name}.se.fc1", s));
            s = _g.Node("Sigmoid", $"{name}.se_gate", Dense($"{name}.se.fc2", s));
            if (se.Gain != 1.0) s = _g.Mul(s, _g.Scalar($"{name}.se_gain", se.Gain));
            h = _g.Mul(h, s, $"{name}.se_out");
        }
        h = PlainConv($"{name}.conv_pwl", h, $"{name}.bn3");
        return block.HasResidual ? _g.Node("Add", $"{name}.out", h, x) : h;
    }

    private string FusedMBConv(string name, FusedMBConv block, string x)
    {
        var h = Silu(PlainConv($"{name}.conv_exp", x, $"{name}.bn1"));
        if (Has($"{name}.conv_pwl")) h = PlainConv($"{name}.conv_pwl", h, $"{name}.bn2");
        return block.HasResidual ? _g.Node("Add", $"{name}.out", h, x) : h;
    }
}
