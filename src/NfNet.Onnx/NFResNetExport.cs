using NfNet.Layers;
using NfNet.Models.Baselines;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>NF-ResNet (<see cref="NFResNet"/>): scaled WS convs folded like NFNet's, the ReLU gamma and beta in the next
/// conv, <c>alpha · skipinit_gain</c> one scalar multiply.</summary>
internal sealed class NFResNetExport : GraphWriter
{
    private NFResNetExport(NFResNet model, OnnxGraph graph, long height, long width) : base(model, graph, height, width) { }

    public static string Write(NFResNet model, OnnxGraph graph, string input, long height, long width)
    {
        var e = new NFResNetExport(model, graph, height, width);
        var x = e.Conv("stem", input, 1.0);
        if (model.Config.StemPool) x = e.MaxPool(x, 3, 2, 1);
        foreach (var block in model.Blocks) x = e.Block(block, x);
        var act = e.Module<ScaledActivation>("final_act");
        x = graph.Mul(e.Activation(act.Kind, x), graph.Scalar("final_act_gamma", act.Gamma));
        return e.Head(x, "fc");
    }

    private string Block(NFResNetBlock block, string x)
    {
        var name = block.BlockName;
        var act = Module<ScaledActivation>($"{name}.act");
        var a = Activation(act.Kind, x);
        var aScale = act.Gamma * block.Beta;
        var (h0, w0) = (_h, _w);
        var h = Conv($"{name}.conv0", a, aScale);
        h = Conv($"{name}.conv1", Activation(act.Kind, h), act.Gamma);
        h = Conv($"{name}.conv2", Activation(act.Kind, h), act.Gamma);
        var (h1, w1) = (_h, _w);
        var shortcut = x;
        if (Has($"{name}.conv_shortcut"))
        {
            (_h, _w) = (h0, w0);
            shortcut = Conv($"{name}.conv_shortcut", a, aScale);
        }
        (_h, _w) = (h1, w1);
        var gain = _g.Scalar($"{name}.gain", block.Alpha * block.SkipInitGain.ReadDouble());
        return _g.Node("Add", $"{name}.out", _g.Mul(h, gain, $"{name}.branch"), shortcut);
    }
}
