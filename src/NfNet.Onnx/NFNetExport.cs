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
    private NFNetExport(NFNet model, OnnxGraph graph, long height, long width) : base(model, graph, height, width) { }

    public static string Write(NFNet model, OnnxGraph graph, string input, long height, long width)
    {
        var e = new NFNetExport(model, graph, height, width);

        // Stem: its convs, each activation's gamma folded into the next conv, and its pool.
        var x = e.NFStem("stem", input);
        foreach (var block in model.Blocks) x = e.NFBlock(block, block.Spec.Name, x);

        // final_conv (when there is one) → activation (gamma-scaled where the activations carry it) → pool → classifier
        // (dropout is the identity at inference).
        if (e.Has("final_conv")) x = e.Conv("final_conv", x, 1.0);
        x = e.ScaledActivation("final_act", x);
        return e.Head(x, model.NumClasses > 0 ? "head.fc" : null, model.Head.Pool);
    }
}
