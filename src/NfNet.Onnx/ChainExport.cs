using NfNet.Models;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>
/// The writer of a model of your own (an <see cref="ImageClassifier"/> with no writer of its own): its children in
/// registration order, each with its registered writer, then — when the children end on a feature map — global average
/// pooling and the classifier. The layout is checked against the model's own forward in TorchSharp first, on one random
/// image of the export size, so a model whose forward is something else is refused instead of exported wrong.
/// </summary>
internal static class ChainExport
{
    // Same ops in the same order give the same floats; the margin covers kernels that pick another algorithm by shape.
    private const double Tolerance = 1e-4;

    public static string Write(OnnxWriteContext context, ImageClassifier model, string path, string input)
    {
        var classifier = model.ClassifierParameters().Select(p => p.Name).FirstOrDefault();
        var classifierPath = classifier?[..classifier.LastIndexOf('.')];
        // The classifier is outside the chain when it is a direct child of the model (fc, classifier); inside it when it
        // is a child's (head.fc).
        var direct = classifierPath is not null && !classifierPath.Contains('.');
        var children = model.named_children().Where(c => !(direct && c.name == classifierPath)).ToArray();
        var pool = CheckLayout(context, model, children, direct ? classifierPath : null);
        foreach (var (name, child) in children) input = context.Write(child, OnnxWriteContext.ChildPath(path, name), input);
        if (pool) input = context.Nodes.Pool(input);
        if (direct) input = context.Nodes.Linear(OnnxWriteContext.ChildPath(path, classifierPath!), input);
        return input;
    }

    // Runs the chain in TorchSharp beside model.forward; returns whether a pool closes it.
    private static bool CheckLayout(OnnxWriteContext context, ImageClassifier model, (string name, nn.Module module)[] children, string? classifierPath)
    {
        var type = model.GetType().Name;
        using var scope = NewDisposeScope();
        using var generator = new Generator(20210211);
        var reference = model.parameters().FirstOrDefault();
        var x = randn(new long[] { 1, model.InChannels, context.Height, context.Width }, reference?.dtype ?? ScalarType.Float32,
            reference?.device, generator: generator);
        var expected = model.forward(x);
        var y = x;
        foreach (var (name, child) in children)
        {
            if (child is not nn.Module<Tensor, Tensor> step)
                throw new OnnxExportException($"{type}'s child '{name}' ({child.GetType().Name}) does not take one tensor: register a writer for {type} " +
                    "with OnnxModuleWriters.Register");
            y = step.call(y);
        }
        var pool = y.dim() == 4 && expected.dim() == 2;
        if (pool) y = y.mean(new long[] { 2, 3 });
        if (classifierPath is not null)
        {
            var linear = (nn.Module<Tensor, Tensor>)model.named_children().Single(c => c.name == classifierPath).module;
            var dtype = linear.parameters().First().dtype;
            y = linear.call(y.dtype == dtype ? y : y.to(dtype));
        }
        if (!Shapes.Same(y, expected) || MaxRelativeDifference(y, expected) > Tolerance)
            throw new OnnxExportException($"{type}'s forward is not its children called in order{(pool ? ", pooled" : "")}" +
                $"{(classifierPath is null ? "" : $" and classified by '{classifierPath}'")} (checked on a random image in TorchSharp), so the exporter " +
                $"cannot write it from its layers: register a writer for {type} with OnnxModuleWriters.Register");
        return pool;
    }

    private static double MaxRelativeDifference(Tensor actual, Tensor expected)
    {
        using var a = actual.to(ScalarType.Float64);
        using var e = expected.to(ScalarType.Float64);
        using var difference = (a - e).abs().max();
        using var size = e.abs().max();
        var d = difference.ReadDouble();
        return double.IsNaN(d) ? double.PositiveInfinity : d / Math.Max(1.0, size.ReadDouble());
    }
}
