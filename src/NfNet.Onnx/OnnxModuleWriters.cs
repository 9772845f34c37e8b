using System.Collections.Concurrent;
using NfNet.Layers;
using NfNet.Models;
using NfNet.Models.Baselines;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>Writes the ONNX nodes of one module: its input value's name in, its output value's name out.</summary>
/// <typeparam name="TModule">The module type the writer is registered for.</typeparam>
public delegate string OnnxModuleWriter<in TModule>(OnnxWriteContext context, TModule module, string path, string input) where TModule : nn.Module;

/// <summary>
/// The exporter's writers, one per module type: the library registers its models (the NFNet family and every comparison
/// model) and its layers (<see cref="ScaledWSConv2d"/>, <see cref="ScaledActivation"/>, <see cref="NFStem"/>,
/// <see cref="NFBlock"/>, <see cref="GuardedConv2d"/>, batch norm, <see cref="ClassifierHead"/>, linear layers,
/// <c>Sequential</c>, ReLU/SiLU/GELU, and the identities of inference: dropout, stochastic depth, <c>Identity</c>). Register
/// a writer for a module of your own with <see cref="Register{TModule}"/>.
/// </summary>
/// <remarks>
/// A model of your own exports without a writer when its forward is its children called in registration order,
/// optionally followed by global average pooling and its classifier (see <see cref="ImageClassifier.ClassifierParameters"/>):
/// the exporter checks that on a random image in TorchSharp before writing, and refuses a model whose forward is
/// something else, naming it. A writer is looked up for the module's own type first, then its base types.
/// </remarks>
public static class OnnxModuleWriters
{
    private static readonly ConcurrentDictionary<Type, OnnxModuleWriter<nn.Module>> Writers = new();

    static OnnxModuleWriters()
    {
        // Whole models, written from their own structure (constants folded).
        Register<NFNet>((c, m, _, x) => NFNetExport.Write(m, c.Graph, x, c.Height, c.Width));
        Register<BatchNormResNet>((c, m, _, x) => ResNetExport.Write(m, c.Graph, x, c.Height, c.Width));
        Register<NFResNet>((c, m, _, x) => NFResNetExport.Write(m, c.Graph, x, c.Height, c.Width));
        Register<EfficientNetV2>((c, m, _, x) => EfficientNetV2Export.Write(m, c.Graph, x, c.Height, c.Width));
        Register<CoAtNet>((c, m, _, x) => CoAtNetExport.Write(m, c.Graph, x, c.Height, c.Width));
        Register<ImageClassifier>(ChainExport.Write);

        // Layers.
        Register<Sequential>((c, m, path, x) => c.WriteChildren(m, path, x));
        Register<ScaledWSConv2d>((c, _, path, x) => c.Nodes.Conv(path, x, 1.0));
        Register<ScaledActivation>((c, _, path, x) => c.Nodes.ScaledActivation(path, x));
        Register<NFStem>((c, _, path, x) => c.Nodes.NFStem(path, x));
        Register<NFBlock>((c, m, path, x) => c.Nodes.NFBlock(m, path, x));
        Register<GuardedConv2d>((c, _, path, x) => c.Nodes.PlainConv(path, x));
        Register<BatchNorm>((c, _, path, x) => c.Nodes.Norm(path, x));
        Register<ClassifierHead>((c, m, path, x) => c.Nodes.Head(x, m.NumClasses > 0 ? OnnxWriteContext.ChildPath(path, "fc") : null));
        Register<Linear>((c, _, path, x) => c.Nodes.Linear(path, x));
        Register<ReLU>((c, _, _, x) => c.Nodes.Activation(ActivationKind.Relu, x));
        Register<SiLU>((c, _, _, x) => c.Nodes.Activation(ActivationKind.Silu, x));
        Register<GELU>((c, m, _, x) => c.Nodes.Activation(m.approximate == GELU.Approximate.tanh ? ActivationKind.GeluTanh : ActivationKind.Gelu, x));
        Register<Identity>((_, _, _, x) => x);
        Register<Dropout>((_, _, _, x) => x);             // the identity at inference
        Register<StochasticDepth>((_, _, _, x) => x);     // likewise
    }

    /// <summary>Registers (or replaces) the writer of <typeparamref name="TModule"/> and the types derived from it that
    /// have none of their own.</summary>
    public static void Register<TModule>(OnnxModuleWriter<TModule> writer) where TModule : nn.Module
    {
        ArgumentNullException.ThrowIfNull(writer);
        Writers[typeof(TModule)] = (c, m, p, x) => writer(c, (TModule)m, p, x);
    }

    /// <summary>Whether a writer would be found for <paramref name="moduleType"/>.</summary>
    public static bool Has(Type moduleType)
    {
        ArgumentNullException.ThrowIfNull(moduleType);
        return Lookup(moduleType) is not null;
    }

    internal static OnnxModuleWriter<nn.Module> Find(nn.Module module, string path) =>
        Lookup(module.GetType()) ?? throw new OnnxExportException(
            $"no ONNX writer for {module.GetType().Name} at '{(path.Length == 0 ? "(the model)" : path)}': register one with " +
            $"OnnxModuleWriters.Register<{module.GetType().Name}>(...), or build the model from layers the exporter writes");

    private static OnnxModuleWriter<nn.Module>? Lookup(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
            if (Writers.TryGetValue(t, out var writer)) return writer;
        return null;
    }
}
