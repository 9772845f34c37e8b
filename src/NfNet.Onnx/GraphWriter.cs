using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>
/// What every model's export shares: the model's modules and parameters by path, the spatial size as the graph runs,
/// and the layers written as folded ONNX nodes (scaled WS convs, plain convs with batch norm folded in, activations).
/// </summary>
internal class GraphWriter
{
    protected readonly OnnxGraph _g;
    protected readonly Dictionary<string, nn.Module> _modules;
    protected readonly Dictionary<string, Tensor> _parameters;
    protected long _h, _w;

    protected internal GraphWriter(nn.Module model, OnnxGraph graph, long height, long width)
    {
        _g = graph;
        _modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        _parameters = model.state_dict().ToDictionary(p => p.Key, p => p.Value);
        (_h, _w) = (height, width);
    }

    /// <summary>The graph being written.</summary>
    internal OnnxGraph Graph => _g;

    /// <summary>The spatial size of the value being written (updated by every strided node).</summary>
    internal (long Height, long Width) Size
    {
        get => (_h, _w);
        set => (_h, _w) = value;
    }

    protected bool Has(string path) => _modules.ContainsKey(path);

    protected T Module<T>(string path) where T : nn.Module
    {
        if (!_modules.TryGetValue(path, out var module))
            throw new OnnxExportException($"the model has no module at '{path}', where its writer expects a {typeof(T).Name}");
        return module as T ?? throw new OnnxExportException(
            $"the writer expects a {typeof(T).Name} at '{path}', but the model has a {module.GetType().Name} there");
    }

    protected internal string ActThenConv(string act, string conv, string x)
    {
        var activation = Module<ScaledActivation>(act);
        return Conv(conv, Activation(activation.Kind, x), activation.Gamma);
    }

    /// <summary>A scaled WS conv as a plain Conv: the standardized weight times <paramref name="inputScale"/>, explicit pads.</summary>
    protected internal string Conv(string path, string x, double inputScale)
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
    protected internal string Dense(string path, string x)
    {
        var w = _g.Initializer(path + ".weight", _parameters[path + ".weight"]);
        var b = _parameters.TryGetValue(path + ".bias", out var bias) ? _g.Initializer(path + ".bias", bias) : null;
        return _g.Conv(x, path, w, b, 1, 1, 1, new long[] { 0, 0, 0, 0 });
    }

    /// <summary>The unscaled nonlinearity (its gamma is folded elsewhere).</summary>
    protected internal string Activation(ActivationKind kind, string x)
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

    /// <summary>A plain conv (<see cref="GuardedConv2d"/>), with the batch norm at <paramref name="norm"/> folded into its
    /// weight and bias when there is one (eval mode: <c>y = (conv(x) − μ)·γ/√(σ² + ε) + β</c>).</summary>
    protected internal string PlainConv(string path, string x, string? norm = null)
    {
        var conv = Module<GuardedConv2d>(path);
        using var scope = NewDisposeScope();
        var weight = conv.Weight.detach().to(ScalarType.Float64);
        var bias = _parameters.TryGetValue(path + ".bias", out var b) ? b.detach().to(ScalarType.Float64) : zeros(conv.OutChannels, ScalarType.Float64);
        if (norm is not null && _modules[norm] is BatchNorm bn)
        {
            var (scale, shift) = Affine(bn, norm);
            weight = weight * scale.reshape(-1, 1, 1, 1);
            bias = (bias * scale).Plus(shift);
        }
        var w = _g.Initializer(path + ".weight", weight);
        var bName = _g.Initializer(path + ".bias", bias);
        long k = conv.KernelSize, s = conv.Stride, p = conv.Padding;
        var y = _g.Conv(x, path, w, bName, k, s, conv.Groups, new[] { p, p, p, p });
        _h = (_h + 2 * p - k) / s + 1;
        _w = (_w + 2 * p - k) / s + 1;
        return y;
    }

    /// <summary>A batch norm on its own (before a conv: pre-activation) as one per-channel multiply and add.</summary>
    protected internal string Norm(string path, string x)
    {
        if (_modules[path] is not BatchNorm bn) return x; // BN swapped for an identity (UseBatchNorm = false)
        using var scope = NewDisposeScope();
        var (scale, shift) = Affine(bn, path);
        var s = _g.Initializer(path + ".scale", scale.reshape(1, -1, 1, 1));
        var t = _g.Initializer(path + ".shift", shift.reshape(1, -1, 1, 1));
        return _g.Node("Add", path, _g.Mul(x, s), t);
    }

    private (Tensor Scale, Tensor Shift) Affine(BatchNorm bn, string path)
    {
        var mean = _parameters[path + ".running_mean"].to(ScalarType.Float64);
        var variance = _parameters[path + ".running_var"].to(ScalarType.Float64);
        var gamma = _parameters[path + ".weight"].to(ScalarType.Float64);
        var beta = _parameters[path + ".bias"].to(ScalarType.Float64);
        var scale = gamma / variance.Plus(bn.eps).sqrt();
        return (scale, beta - mean * scale);
    }

    /// <summary>PyTorch's max_pool2d(k, s, p) (padding never wins a max, as in ONNX).</summary>
    protected internal string MaxPool(string x, long kernel, long stride, long padding)
    {
        var y = _g.Node("MaxPool", "maxpool", new[] { x }, OnnxGraph.Ints("kernel_shape", kernel, kernel), OnnxGraph.Ints("strides", stride, stride),
            OnnxGraph.Ints("pads", padding, padding, padding, padding));
        _h = (_h + 2 * padding - kernel) / stride + 1;
        _w = (_w + 2 * padding - kernel) / stride + 1;
        return y;
    }

    /// <summary>Global pool → flatten → Gemm with the classifier at <paramref name="fc"/> (when there is one); returns
    /// the logits (the pooled features with no classifier).</summary>
    protected internal string Head(string x, string? fc, GlobalPool pool = GlobalPool.Avg)
    {
        x = Pool(x, pool);
        return fc is not null && _parameters.ContainsKey(fc + ".weight") ? Linear(fc, x) : x;
    }

    /// <summary>timm's global pool and flatten: [N, C, H, W] → [N, C] ([N, 2C] for <see cref="GlobalPool.CatAvgMax"/>).</summary>
    /// <exception cref="OnnxExportException"><see cref="GlobalPool.None"/>: the graph's output is a pooled vector.</exception>
    protected internal string Pool(string x, GlobalPool pool = GlobalPool.Avg)
    {
        string Avg() => _g.Node("GlobalAveragePool", "pool", x);
        string Max() => _g.Node("GlobalMaxPool", "max_pool", x);
        x = pool switch
        {
            GlobalPool.Avg => Avg(),
            GlobalPool.Max => Max(),
            GlobalPool.AvgMax => _g.Mul(_g.Node("Add", "avg_plus_max", Avg(), Max()), _g.Scalar("half", 0.5), "avgmax"),
            GlobalPool.CatAvgMax => _g.Node("Concat", "catavgmax", new[] { Avg(), Max() }, OnnxGraph.Int("axis", 1)),
            _ => throw new OnnxExportException($"the exported graph ends in pooled features; a model without global pooling ({pool}) is not exported"),
        };
        return _g.Node("Flatten", "pre_logits", new[] { x }, OnnxGraph.Int("axis", 1));
    }

    /// <summary>The linear layer at <paramref name="path"/> on [N, features] as a Gemm.</summary>
    protected internal string Linear(string path, string x)
    {
        var weight = _g.Initializer(path + ".weight", _parameters[path + ".weight"]);
        var inputs = _parameters.TryGetValue(path + ".bias", out var b) ? new[] { x, weight, _g.Initializer(path + ".bias", b) } : new[] { x, weight };
        return _g.Node("Gemm", path.Length == 0 ? "linear" : path, inputs, OnnxGraph.Int("transB", 1));
    }

    /// <summary>One NormFreeNet block (Brock et al. 2021, Fig. 2; timm's <c>NormFreeBlock</c>) at <paramref name="name"/>
    /// with its constants folded: beta and each gamma into the next conv, a RegNet block's attention on the bottleneck,
    /// and the last attention's gain, alpha and skipinit_gain into one gate on the branch.</summary>
    protected internal string NFBlock(NFBlock block, string name, string x)
    {
        var spec = block.Spec;
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
        if (AttentionGate($"{name}.attn", h) is { } middle) h = _g.Mul(h, middle.Gate, $"{name}.attn_out");
        h = ActThenConv($"{name}.act3", $"{name}.conv3", h);

        var residual = spec.Alpha * (block.SkipInitGain?.ReadDouble() ?? 1.0);
        var gate = AttentionGate($"{name}.attn_last", h) is { } last
            ? _g.Mul(last.Gate, _g.Scalar($"{name}.gate_scale", residual))
            : _g.Scalar($"{name}.residual_scale", residual);
        return _g.Node("Add", $"{name}.out", _g.Mul(h, gate, $"{name}.branch"), shortcut);
    }

    /// <summary>The gate [N, C, 1, 1] of the attention at <paramref name="path"/> (its gain included), or null when the
    /// block has none there. Squeeze-Excite: pool, FC, activation, FC, sigmoid. ECA: pool, a 1-D conv across the channels
    /// (a Conv over [N, 1, C]), sigmoid.</summary>
    private (string Gate, double Gain)? AttentionGate(string path, string x)
    {
        if (!_modules.TryGetValue(path, out var module)) return null;
        string s;
        double gain;
        switch (module)
        {
            case SqueezeExcite se:
                s = _g.Node("GlobalAveragePool", $"{path}.pool", x);
                s = Dense($"{path}.fc1", s);
                s = Activation(se.Activation, s);
                s = Dense($"{path}.fc2", s);
                gain = se.Gain;
                break;
            case EfficientChannelAttention eca:
                s = _g.Node("GlobalAveragePool", $"{path}.pool", x);
                s = _g.Node("Reshape", $"{path}.channels_as_width", s, _g.Int64s($"{path}.row_shape", 0, 1, -1));
                var k = eca.KernelSize;
                s = _g.Node("Conv", $"{path}.conv", new[] { s, _g.Initializer($"{path}.conv.weight", eca.Weight) },
                    OnnxGraph.Ints("kernel_shape", k), OnnxGraph.Ints("pads", (k - 1) / 2, (k - 1) / 2));
                s = _g.Node("Reshape", $"{path}.gate_shape", s, _g.Int64s($"{path}.gate_dims", 0, -1, 1, 1));
                gain = eca.Gain;
                break;
            default:
                throw new OnnxExportException($"the exporter writes Squeeze-Excite and ECA attention; '{path}' is a {module.GetType().Name}");
        }
        s = _g.Node("Sigmoid", $"{path}.gate", s);
        if (gain != 1.0) s = _g.Mul(s, _g.Scalar($"{path}.gain", gain));
        return (s, gain);
    }

    /// <summary>A NormFreeNet stem at <paramref name="name"/>, child by child: each WS conv with the activation before it
    /// folded in (its gamma into the conv), and the max pool of the <c>_pool</c> stems.</summary>
    protected internal string NFStem(string name, string x)
    {
        ScaledActivation? pending = null;
        string? pendingPath = null;
        foreach (var (child, module) in Module<NFStem>(name).named_children())
        {
            var path = $"{name}.{child}";
            switch (module)
            {
                case ScaledActivation act:
                    (pending, pendingPath) = (act, path);
                    break;
                case ScaledWSConv2d:
                    x = pending is null ? Conv(path, x, 1.0) : ActThenConv(pendingPath!, path, x);
                    pending = null;
                    break;
                case TorchSharp.Modules.MaxPool2d:
                    x = MaxPool(x, 3, 2, 1);
                    break;
                default:
                    throw new OnnxExportException($"the exporter does not write a {module.GetType().Name} in a stem ('{path}')");
            }
        }
        return x;
    }

    /// <summary>A gamma-scaled activation on its own: <c>act(x) · gamma</c>.</summary>
    protected internal string ScaledActivation(string path, string x)
    {
        var act = Module<ScaledActivation>(path);
        var y = Activation(act.Kind, x);
        return act.Gamma == 1.0 ? y : _g.Mul(y, _g.Scalar($"{path}.gamma", act.Gamma));
    }
}
