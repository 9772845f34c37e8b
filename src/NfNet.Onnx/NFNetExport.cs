using NfNet.Layers;
using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>The NFNet's graph, module by module, in the order its forward runs (NFStem, NFBlock, final conv, head).</summary>
internal sealed class NFNetExport : GraphWriter
{
    private NFNetExport(NFNet model, OnnxGraph graph, int height, int width) : base(model, graph, height, width) { }

    public static void Write(NFNet model, OnnxGraph graph, OnnxExportOptions options, int height, int width)
    {
        var e = new NFNetExport(model, graph, height, width);

        // Stem: conv1, then act → conv (the activation's gamma folded into the conv) three times.
        var x = e.Conv("stem.conv1", options.InputName, 1.0);
        foreach (var (act, conv) in new[] { ("stem.act2", "stem.conv2"), ("stem.act3", "stem.conv3"), ("stem.act4", "stem.conv4") })
            x = e.ActThenConv(act, conv, x);

        foreach (var block in model.Blocks) x = e.Block(block, x);

        // final_conv → gamma-scaled activation → pool → classifier (dropout is the identity at inference).
        x = e.Conv("final_conv", x, 1.0);
        var finalAct = e.Module<ScaledActivation>("final_act");
        x = graph.Mul(e.Activation(finalAct.Kind, x), graph.Scalar("final_act_gamma", finalAct.Gamma));
        e.Head(x, model.NumClasses > 0 ? "head.fc" : null, options, model.NumClasses > 0 ? model.NumClasses : model.NumFeatures);
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
        var gain = se.Gain * spec.Alpha * block.SkipInitGain.ReadDouble();
        s = _g.Mul(s, _g.Scalar($"{name}.gate_scale", gain));
        return _g.Node("Add", $"{name}.out", _g.Mul(h, s, $"{name}.branch"), shortcut);
    }

}
