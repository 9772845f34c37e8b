using System.Text.RegularExpressions;
using NfNet.Layers;
using NfNet.Models.Baselines;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>
/// CoAtNet (<see cref="CoAtNet"/>): MBConv stages with batch norm folded (the pre-norm as a per-channel multiply and
/// add), transformer stages with channel LayerNorm (<c>LayerNormalization</c>, opset 17+) and global relative attention as
/// <c>MatMul</c>/<c>Softmax</c> with the relative-position bias gathered into a [heads, L, L] initializer for the
/// export size.
/// </summary>
internal sealed partial class CoAtNetExport : GraphWriter
{
    private readonly double _layerNormEps;

    private CoAtNetExport(CoAtNet model, OnnxGraph graph, long height, long width) : base(model, graph, height, width) =>
        _layerNormEps = model.Config.LayerNormEps;

    [GeneratedRegex(@"^stages\.\d+_\d+$")]
    private static partial Regex BlockPath();

    public static string Write(CoAtNet model, OnnxGraph graph, string input, long height, long width)
    {
        if (graph.Opset < 17) throw new OnnxExportException($"CoAtNet's LayerNorm needs opset 17 or newer; {graph.Opset} was asked for");
        var minimum = model.Config.StrideAfterStage(model.Config.Widths.Count - 1);
        if (height < minimum || width < minimum)
            throw new OnnxExportException($"{model.Config.Name} needs images of at least {minimum}×{minimum} (its total stride), got {height}×{width}");
        var e = new CoAtNetExport(model, graph, height, width);
        var x = e.Activation(ActivationKind.Gelu, e.PlainConv("stem_conv1", input, "stem_bn"));
        x = e.PlainConv("stem_conv2", x);
        foreach (var path in e._modules.Keys.Where(k => BlockPath().IsMatch(k)).ToArray())
            x = e._modules[path] switch
            {
                CoAtNetMBConv block => e.MBConv(path, block, x),
                CoAtNetTransformerBlock block => e.Transformer(path, block, x),
                var other => throw new OnnxExportException($"the exporter does not know {other.GetType().Name} at '{path}'"),
            };
        // Head: pool → LayerNorm over the features → classifier.
        x = e.LayerNorm("head_norm", e.Pool(x), axis: -1);
        return model.NumClasses > 0 ? e.Linear("fc", x) : x;
    }

    private string LayerNorm(string path, string x, long axis)
    {
        var scale = _g.Initializer(path + ".weight", _parameters[path + ".weight"]);
        var bias = _g.Initializer(path + ".bias", _parameters[path + ".bias"]);
        return _g.Node("LayerNormalization", path, new[] { x, scale, bias }, OnnxGraph.Int("axis", axis), Float("epsilon", _layerNormEps));
    }

    private static global::Onnx.AttributeProto Float(string name, double value) =>
        new() { Name = name, Type = global::Onnx.AttributeProto.Types.AttributeType.Float, F = (float)value };

    /// <summary>LayerNorm over the channels of an NCHW map: NHWC, normalise the last axis, back.</summary>
    private string ChannelLayerNorm(string path, string x)
    {
        var nhwc = _g.Node("Transpose", path + ".nhwc", new[] { x }, OnnxGraph.Ints("perm", 0, 2, 3, 1));
        return _g.Node("Transpose", path + ".nchw", new[] { LayerNorm(path, nhwc, -1) }, OnnxGraph.Ints("perm", 0, 3, 1, 2));
    }

    private string AvgPool2(string x)
    {
        _h /= 2;
        _w /= 2;
        return _g.Node("AveragePool", "avgpool", new[] { x }, OnnxGraph.Ints("kernel_shape", 2, 2), OnnxGraph.Ints("strides", 2, 2));
    }

    // sc = shortcut(avgpool(x)) ; h = conv3(SE(gelu(bn2(conv2(gelu(bn1(conv1(bn0 x)))))))) ; out = h + sc
    private string MBConv(string name, CoAtNetMBConv block, string x)
    {
        var (h0, w0) = (_h, _w);
        var h = PlainConv($"{name}.conv1", Norm($"{name}.pre_norm", x), $"{name}.bn1");
        h = Activation(ActivationKind.Gelu, h);
        h = Activation(ActivationKind.Gelu, PlainConv($"{name}.conv2", h, $"{name}.bn2"));
        var se = Module<SqueezeExcite>($"{name}.se");
        var s = _g.Node("GlobalAveragePool", $"{name}.se_pool", h);
        s = Activation(se.Activation, Dense($"{name}.se.fc1", s));
        s = _g.Node("Sigmoid", $"{name}.se_gate", Dense($"{name}.se.fc2", s));
        if (se.Gain != 1.0) s = _g.Mul(s, _g.Scalar($"{name}.se_gain", se.Gain));
        h = PlainConv($"{name}.conv3", _g.Mul(h, s, $"{name}.se_out"));
        var (h1, w1) = (_h, _w);
        (_h, _w) = (h0, w0);
        var sc = block.Stride == 2 ? AvgPool2(x) : x;
        if (Has($"{name}.shortcut")) sc = PlainConv($"{name}.shortcut", sc);
        (_h, _w) = (h1, w1);
        return _g.Node("Add", $"{name}.out", h, sc);
    }

    // sc = shortcut(avgpool x) ; y = attn(avgpool(ln1 x)) + sc ; out = y + fc2(gelu(fc1(ln2 y)))
    private string Transformer(string name, CoAtNetTransformerBlock block, string x)
    {
        var (h0, w0) = (_h, _w);
        var sc = block.Stride == 2 ? AvgPool2(x) : x;
        if (Has($"{name}.shortcut")) sc = PlainConv($"{name}.shortcut", sc);
        (_h, _w) = (h0, w0);
        var a = ChannelLayerNorm($"{name}.norm1", x);
        if (block.Stride == 2) a = AvgPool2(a);
        var y = _g.Node("Add", $"{name}.attn_out", Attention($"{name}.attn", a), sc);
        var m = PlainConv($"{name}.fc1", ChannelLayerNorm($"{name}.norm2", y));
        m = PlainConv($"{name}.fc2", Activation(ActivationKind.Gelu, m));
        return _g.Node("Add", $"{name}.out", y, m);
    }

    /// <summary>Global multi-head attention over the h·w tokens with the 2-D relative-position bias (Dai et al. 2021).</summary>
    private string Attention(string path, string x)
    {
        var attn = Module<RelativeAttention2d>(path);
        long heads = attn.Heads, d = attn.HeadDim, l = _h * _w;
        var qkv = PlainConv($"{path}.qkv", x);
        var qkvShape = _g.Int64s($"{path}.qkv_shape", 0, 3, heads, d, l);
        var split = _g.Node("Reshape", $"{path}.qkv5", qkv, qkvShape);
        var q = Take(split, 0, path + ".q");
        var k = Take(split, 1, path + ".k");                                                                  // [N, heads, d, L]
        var v = Take(split, 2, path + ".v");
        q = _g.Node("Transpose", $"{path}.qT", new[] { q }, OnnxGraph.Ints("perm", 0, 1, 3, 2));             // [N, heads, L, d]
        v = _g.Node("Transpose", $"{path}.vT", new[] { v }, OnnxGraph.Ints("perm", 0, 1, 3, 2));
        var logits = _g.Mul(_g.Node("MatMul", $"{path}.qk", q, k), _g.Scalar($"{path}.scale", 1.0 / Math.Sqrt(d)));
        using (var bias = attn.Bias(_h, _w, ScalarType.Float32))
            logits = _g.Node("Add", $"{path}.biased", logits, _g.Initializer($"{path}.relative_bias", bias));
        var weights = _g.Node("Softmax", $"{path}.softmax", new[] { logits }, OnnxGraph.Int("axis", -1));
        var y = _g.Node("MatMul", $"{path}.av", weights, v);                                                  // [N, heads, L, d]
        y = _g.Node("Transpose", $"{path}.yT", new[] { y }, OnnxGraph.Ints("perm", 0, 1, 3, 2));             // [N, heads, d, L]
        y = _g.Node("Reshape", $"{path}.y", y, _g.Int64s($"{path}.y_shape", 0, heads * d, _h, _w));
        return PlainConv($"{path}.proj", y);
    }

    private string Take(string x, long index, string hint)
    {
        var indices = _g.Int64s(hint + ".index", index);
        var gathered = _g.Node("Gather", hint, new[] { x, indices }, OnnxGraph.Int("axis", 1));              // [N, 1, heads, d, L]
        return _g.Node("Squeeze", hint + ".sq", gathered, _g.Int64s(hint + ".axes", 1));
    }

}
