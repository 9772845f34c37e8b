using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>
/// What a module writer (<see cref="OnnxModuleWriters"/>) gets: the graph being written and the spatial size of the value
/// flowing through it, and the means to write a child module with its own registered writer. Value names are strings:
/// a writer takes its input's name and returns its output's.
/// </summary>
public sealed class OnnxWriteContext
{
    private readonly GraphWriter _nodes;

    internal OnnxWriteContext(ImageClassifier model, OnnxGraph graph, long height, long width)
    {
        Model = model;
        _nodes = new GraphWriter(model, graph, height, width);
    }

    /// <summary>The model being exported (module paths are relative to it).</summary>
    public ImageClassifier Model { get; }

    /// <summary>The ONNX opset being written.</summary>
    public int Opset => _nodes.Graph.Opset;

    /// <summary>Height of the value being written, for the declared input size.</summary>
    public long Height => _nodes.Size.Height;

    /// <summary>Width of the value being written, for the declared input size.</summary>
    public long Width => _nodes.Size.Width;

    internal GraphWriter Nodes => _nodes;

    internal OnnxGraph Graph => _nodes.Graph;

    /// <summary>Writes <paramref name="module"/> (at <paramref name="path"/> in the model) with the writer registered for
    /// its type; returns its output value.</summary>
    /// <exception cref="OnnxExportException">No writer is registered for the module's type; the message names the path.</exception>
    public string Write(nn.Module module, string path, string input)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(input);
        return OnnxModuleWriters.Find(module, path)(this, module, path, input);
    }

    /// <summary>Writes <paramref name="module"/>'s children in registration order, each on the previous one's output
    /// (what <c>Sequential</c> does).</summary>
    public string WriteChildren(nn.Module module, string path, string input)
    {
        ArgumentNullException.ThrowIfNull(module);
        foreach (var (name, child) in module.named_children()) input = Write(child, ChildPath(path, name), input);
        return input;
    }

    /// <summary>The path of child <paramref name="name"/> of the module at <paramref name="path"/> (as
    /// <c>named_modules()</c> spells it).</summary>
    public static string ChildPath(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    /// <summary>An elementwise sum node.</summary>
    public string Add(string a, string b) => _nodes.Graph.Node("Add", "add", a, b);

    /// <summary>An elementwise product node.</summary>
    public string Multiply(string a, string b) => _nodes.Graph.Mul(a, b);

    /// <summary><paramref name="x"/> times a constant.</summary>
    public string Scale(string x, double factor) => _nodes.Graph.Mul(x, _nodes.Graph.Scalar("scale", factor));

    /// <summary>A node of ONNX operator <paramref name="op"/> with no attributes and one output.</summary>
    public string Node(string op, params string[] inputs) => _nodes.Graph.Node(op, op.ToLowerInvariant(), inputs);
}
