using NfNet.Models.Baselines;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>
/// BN-ResNet (<see cref="BatchNormResNet"/>) in both forms, batch norm folded for inference: after a conv (v1.5) into
/// its weight and bias; before a conv (pre-activation) as one per-channel multiply and add.
/// </summary>
internal sealed class ResNetExport : GraphWriter
{
    private ResNetExport(BatchNormResNet model, OnnxGraph graph, long height, long width) : base(model, graph, height, width) { }

    public static string Write(BatchNormResNet model, OnnxGraph graph, string input, long height, long width)
    {
        var e = new ResNetExport(model, graph, height, width);
        var c = model.Config;
        var pre = c.Form == ResNetForm.PreActivation;
        var x = e.PlainConv("conv1", input, pre ? null : "bn1");
        if (!pre) x = graph.Node("Relu", "relu", x);
        if (c.StemPool) x = e.MaxPool(x, 3, 2, 1);
        for (var s = 0; s < c.Depths.Count; s++)
            for (var b = 0; b < c.Depths[s]; b++)
                x = pre ? e.PreActivation($"layers.{s}_{b}", x) : e.PostActivation($"layers.{s}_{b}", x);
        if (pre) x = graph.Node("Relu", "relu", e.Norm("norm_final", x));
        return e.Head(x, "fc");
    }

    // v1.5: relu(bn1(conv1 x)) → relu(bn2(conv2 ·)) (stride here) → bn3(conv3 ·); + shortcut; relu.
    private string PostActivation(string name, string x)
    {
        var (h0, w0) = (_h, _w);
        var h = _g.Node("Relu", "relu", PlainConv($"{name}.conv1", x, $"{name}.bn1"));
        h = _g.Node("Relu", "relu", PlainConv($"{name}.conv2", h, $"{name}.bn2"));
        h = PlainConv($"{name}.conv3", h, $"{name}.bn3");
        var (h1, w1) = (_h, _w);
        var shortcut = x;
        if (Has($"{name}.downsample"))
        {
            (_h, _w) = (h0, w0);
            shortcut = PlainConv($"{name}.downsample.0", x, $"{name}.downsample.1");
        }
        (_h, _w) = (h1, w1);
        return _g.Node("Relu", $"{name}.out", _g.Node("Add", $"{name}.add", h, shortcut));
    }

    // Pre-activation: pre = relu(bn0 x); shortcut = downsample(pre) or x; relu(bn1(conv1 pre)) → relu(bn2(conv2 ·)) → conv3 ·; + shortcut.
    private string PreActivation(string name, string x)
    {
        var (h0, w0) = (_h, _w);
        var pre = _g.Node("Relu", "relu", Norm($"{name}.bn0", x));
        var h = _g.Node("Relu", "relu", PlainConv($"{name}.conv1", pre, $"{name}.bn1"));
        h = _g.Node("Relu", "relu", PlainConv($"{name}.conv2", h, $"{name}.bn2"));
        h = PlainConv($"{name}.conv3", h);
        var (h1, w1) = (_h, _w);
        var shortcut = x;
        if (Has($"{name}.downsample"))
        {
            (_h, _w) = (h0, w0);
            shortcut = PlainConv($"{name}.downsample", pre);
        }
        (_h, _w) = (h1, w1);
        return _g.Node("Add", $"{name}.out", h, shortcut);
    }
}
