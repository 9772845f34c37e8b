using NfNet.Layers;
using NfNet.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>The NFNet's graph, module by module, in the order its forward runs (NFStem, NFBlock, final conv, head).</summary>
internal sealed class NFNetExport
{
    private readonly OnnxGraph _g;
    private readonly Dictionary<string, nn.Module> _modules;
    private readonly Dictionary<string, Parameter> _parameters;
    private long _h, _w;

    private NFNetExport(NFNet model, OnnxGraph graph, int height, int width)
    {
        _g = graph;
        _modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        _parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        (_h, _w) = (height, width);
    }

    public static void Write(NFNet model, OnnxGraph graph, OnnxExportOptions options, int height, int width)
    {
        var e = new NFNetExport(model, graph, height, width);
        graph.Graph.Input.Add(OnnxGraph.Value(options.InputName, options.DynamicBatch, 1, model.InChannels, height, width));

        // Stem: conv1, then act → conv (the activation's gamma folded into the conv) three times.
        var x = e.Conv("stem.conv1", options.InputName, 1.0);
        foreach (var (act, conv) in new[] { ("stem.act2", "stem.conv2"), ("stem.act3", "stem.conv3"), ("stem.act4", "stem.conv4") })
            x = e.ActThenConv(act, conv, x);

        foreach (var block in model.Blocks) x = e.Block(block, x);

        // final_conv → gamma-scaled activation → pool → classifier (dropout is the identity at inference).
        x = e.Conv("final_conv", x, 1.0);
        var finalAct = e.Module<ScaledActivation>("final_act");
        x = graph.Mul(e.Activation(finalAct.Kind, x), graph.Scalar("final_act_gamma", finalAct.Gamma));
        x = graph.Node("GlobalAveragePool", "pool", x);
        x = graph.Node("Flatten", "pre_logits", new[] { x }, OnnxGraph.Int("axis", 1));
        if (model.NumClasses > 0)
        {
            var weight = graph.Initializer("head.fc.weight", e._parameters["head.fc.weight"]);
            var bias = graph.Initializer("head.fc.bias", e._parameters["head.fc.bias"]);
            x = graph.Node("Gemm", "logits", new[] { x, weight, bias }, OnnxGraph.Int("transB", 1));
        }
        graph.Output(x, options.OutputName);
        graph.Graph.Output.Add(OnnxGraph.Value(options.OutputName, options.DynamicBatch, 1, model.NumClasses > 0 ? model.NumClasses : model.NumFeatures));
    }

    private T Module<T>(string path) where T : nn.Module
    {
        if (!_modules.TryGetValue(path, out var module))
            throw new OnnxExportException($"the model has no module at '{path}', which an NFNet has");
        return module as T ?? throw new OnnxExportException(
            $"the exporter does not know {module.GetType().Name} at '{path}' (an NFNet has a {typeof(T).Name} there)");
    }

    /// <summary>One NF block (Brock et al. 2021, Fig. 2) with its constants folded: beta and each gamma into the next
    /// conv, the SE gain, alpha and skipinit_gain into one scalar on the SE gate.</summary>
    private string Block(NFBlock block, string x)
    {
        var spec = block.Spec;
        var name = spec.Name;
        var act1 = Module<ScaledActivation>($"{name}.act1");
        var a = Activation(act1.Kind, x);
        var aScale = act1.Gamma * spec.Beta;
        var (h0, w0) = (_h, _w);
        string shortcut = x;
        if (spec.IsTransition)
        {
            var pooled = a;
            if (spec.Stride > 1)
            {
                // timm's AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False): edge windows average their valid pixels.
                pooled = _g.Node("AveragePool", $"{name}.downsample.pool", new[] { a },
                    OnnxGraph.Ints("kernel_shape", 2, 2), OnnxGraph.Ints("strides", 2, 2), OnnxGraph.Int("ceil_mode", 1), OnnxGraph.Int("count_include_pad", 0));
                (_h, _w) = ((_h + 1) / 2, (_w + 1) / 2);
            }
            shortcut = Conv($"{name}.downsample.conv", pooled, aScale);
            (_h, _w) = (h0, w0);
        }
        var h = Conv($"{name}.conv1", a, aScale);
        h = ActThenConv($"{name}.act2", $"{name}.conv2", h);
        if (_modules.ContainsKey($"{name}.conv2b")) h = ActThenConv($"{name}.act2b", $"{name}.conv2b", h);
        h = ActThenConv($"{name}.act3", $"{name}.conv3", h);

        var se = Module<SqueezeExcite>($"{name}.attn_last");
        var s = _g.Node("GlobalAveragePool", $"{name}.se_pool", h);
        s = Dense($"{name}.attn_last.fc1", s);
        s = Activation(se.Activation, s);
        s = Dense($"{name}.attn_last.fc2", s);
        s = _g.Node("Sigmoid", $"{name}.se_gate", s);
        var gain = se.Gain * spec.Alpha * block.SkipInitGain.ToDouble();
        s = _g.Mul(s, _g.Scalar($"{name}.gate_scale", gain));
        return _g.Node("Add", $"{name}.out", _g.Mul(h, s, $"{name}.branch"), shortcut);
    }

    private string ActThenConv(string act, string conv, string x)
    {
        var activation = Module<ScaledActivation>(act);
        return Conv(conv, Activation(activation.Kind, x), activation.Gamma);
    }

    /// <summary>A scaled WS conv as a plain Conv: the standardized weight times <paramref name="inputScale"/>, explicit pads.</summary>
    private string Conv(string path, string x, double inputScale)
    {
        var conv = Module<ScaledWSConv2d>(path);
        using var weight = conv.StandardizedWeight(inputScale);
        var w = _g.Initializer(path + ".weight", weight);
        var b = conv.Bias is { } bias ? _g.Initializer(path + ".bias", bias) : null;
        long k = conv.KernelSize, s = conv.Stride;
        long top, bottom, left, right;
        if (conv.Padding == ConvPadding.Symmetric || SamePadding.IsStatic(k, s, conv.Dilation))
        {
            var p = conv.Padding == ConvPadding.Symmetric ? ((s - 1) + conv.Dilation * (k - 1)) / 2 : (k - 1) * conv.Dilation / 2;
            (top, bottom, left, right) = (p, p, p, p);
        }
        else
        {
            (top, bottom) = SamePadding.For(_h, k, s, conv.Dilation);
            (left, right) = SamePadding.For(_w, k, s, conv.Dilation);
        }
        if (conv.Dilation != 1) throw new OnnxExportException($"the exporter writes dilation 1 only; '{path}' has {conv.Dilation}");
        var y = _g.Conv(x, path, w, b, k, s, conv.Groups, new[] { top, left, bottom, right });
        _h = (_h + top + bottom - k) / s + 1;
        _w = (_w + left + right - k) / s + 1;
        return y;
    }

    /// <summary>A 1×1 nn.Conv2d (the SE FCs) from its parameters.</summary>
    private string Dense(string path, string x)
    {
        var w = _g.Initializer(path + ".weight", _parameters[path + ".weight"]);
        var b = _parameters.TryGetValue(path + ".bias", out var bias) ? _g.Initializer(path + ".bias", bias) : null;
        return _g.Conv(x, path, w, b, 1, 1, 1, new long[] { 0, 0, 0, 0 });
    }

    /// <summary>The unscaled nonlinearity (its gamma is folded elsewhere).</summary>
    private string Activation(ActivationKind kind, string x)
    {
        switch (kind)
        {
            case ActivationKind.Relu:
                return _g.Node("Relu", "relu", x);
            case ActivationKind.Silu:
                return _g.Mul(x, _g.Node("Sigmoid", "silu_gate", x), "silu");
            case ActivationKind.Gelu or ActivationKind.GeluTanh when _g.Opset >= 20:
                return _g.Node("Gelu", "gelu", new[] { x }, OnnxGraph.Text("approximate", kind == ActivationKind.Gelu ? "none" : "tanh"));
            case ActivationKind.Gelu:
                {
                    // 0.5 · x · (1 + erf(x / √2)): opset 13–19 have no Gelu.
                    var erf = _g.Node("Erf", "gelu_erf", _g.Mul(x, _g.Scalar("inv_sqrt2", 1 / Math.Sqrt(2))));
                    var one = _g.Node("Add", "gelu_1p", erf, _g.Scalar("one", 1.0));
                    return _g.Mul(_g.Mul(x, one), _g.Scalar("half", 0.5), "gelu");
                }
            case ActivationKind.GeluTanh:
                {
                    // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³))).
                    var cube = _g.Mul(_g.Mul(x, x), x);
                    var inner = _g.Node("Add", "gelu_in", x, _g.Mul(cube, _g.Scalar("c", 0.044715)));
                    var tanh = _g.Node("Tanh", "gelu_tanh", _g.Mul(inner, _g.Scalar("k", Math.Sqrt(2 / Math.PI))));
                    var one = _g.Node("Add", "gelu_1p", tanh, _g.Scalar("one", 1.0));
                    return _g.Mul(_g.Mul(x, one), _g.Scalar("half", 0.5), "gelu");
                }
            case ActivationKind.Identity:
                return x;
            default:
                throw new OnnxExportException($"the exporter does not know the activation {kind}");
        }
    }
}
