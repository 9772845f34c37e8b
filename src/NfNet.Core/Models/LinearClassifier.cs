using NfNet.Devices;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// The final linear classifier every model shares: one implementation of the class count, the classifier's parameters,
/// its reset for another label set and its MACs, behind <see cref="ImageClassifier"/>'s members. It is registered as the
/// child <see cref="ChildName"/> of its owner module (timm's key: <c>head.fc</c> in NFNets, <c>fc</c>,
/// <c>classifier</c>), after the owner's other children, so state dicts keep timm's names and order. With 0 classes
/// there is no layer and <see cref="Apply"/> returns the pooled features.
/// </summary>
public sealed class LinearClassifier
{
    private readonly nn.Module _owner;
    private readonly Action<Linear>? _init;

    /// <summary>Creates the classifier of <paramref name="owner"/> and registers it as its child
    /// <paramref name="childName"/> (nothing is registered for 0 classes).</summary>
    /// <param name="owner">The module the layer is a child of.</param>
    /// <param name="childName">Its name there (<c>fc</c>).</param>
    /// <param name="path">Its state-dict path in the model (<c>head.fc</c> when the owner is the model's <c>head</c>).</param>
    /// <param name="numFeatures">Pooled feature width (the layer's input).</param>
    /// <param name="numClasses">Outputs (0: no layer).</param>
    /// <param name="init">Initialisation applied after PyTorch's default <c>Linear</c> one (null: keep it); not run on
    /// the meta device. See <see cref="NormalInit"/>, <see cref="ZeroWeightInit"/>, <see cref="UniformByClassesInit"/>.</param>
    /// <param name="device">Where to create the layer.</param>
    public LinearClassifier(nn.Module owner, string childName, string path, long numFeatures, long numClasses, Action<Linear>? init, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentException.ThrowIfNullOrEmpty(childName);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (numClasses < 0) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "the class count must be >= 0 (0: no classifier)");
        (_owner, ChildName, Path, NumFeatures, _init) = (owner, childName, path, numFeatures, init);
        Layer = Create(numClasses, device);
        if (Layer is not null) owner.register_module(childName, Layer);
    }

    /// <summary>The child name in the owner module.</summary>
    public string ChildName { get; }

    /// <summary>The state-dict path of the layer in the model.</summary>
    public string Path { get; }

    /// <summary>Pooled feature width.</summary>
    public long NumFeatures { get; private set; }

    /// <summary>The layer; null with 0 classes.</summary>
    public Linear? Layer { get; private set; }

    /// <summary>Outputs (0: none).</summary>
    public long NumClasses => Layer?.out_features ?? 0;

    /// <summary>Logits of pooled features [N, <see cref="NumFeatures"/>] (the features themselves with 0 classes).
    /// Reduced-precision features meet the layer's own (float32) weights, so logits are float32.</summary>
    public Tensor Apply(Tensor pooled)
    {
        ArgumentNullException.ThrowIfNull(pooled);
        if (Layer is null) return pooled.alias();
        using var matched = Precision.Match(pooled, Layer.weight!.dtype);
        return Layer.call(matched);
    }

    /// <summary>Weight and bias with their state-dict names; empty with 0 classes.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Parameters() =>
        Layer is null ? Array.Empty<(string, Parameter)>() : new[] { ($"{Path}.weight", Layer.weight!), ($"{Path}.bias", Layer.bias!) };

    /// <summary>Replaces the layer by a freshly initialised one with <paramref name="numClasses"/> outputs (0 removes
    /// it) on <paramref name="device"/> in <paramref name="dtype"/>, reading <paramref name="numFeatures"/> pooled
    /// features (null: as before), keeping its place in the state dict; the old layer is disposed.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numClasses"/> is negative.</exception>
    public void Reset(long numClasses, Device device, ScalarType dtype, long? numFeatures = null)
    {
        if (numClasses < 0) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "the class count must be >= 0 (0 removes the classifier)");
        NumFeatures = numFeatures ?? NumFeatures;
        var old = Layer;
        Layer = Create(numClasses, device);
        Layer?.to(dtype);
        TorchSharpInternals.ReplaceSubmodule(_owner, ChildName, (nn.Module?)Layer ?? nn.Identity());
        old?.Dispose();
    }

    /// <summary>Multiply-accumulates for one image (<see cref="NumFeatures"/> · <see cref="NumClasses"/>).</summary>
    public long CountMacs() => NumFeatures * NumClasses;

    /// <summary>N(0, <paramref name="std"/>) weights, zero bias: DeepMind's and timm's NFNet and NF-ResNet classifiers
    /// (<c>fc_init</c>, std 0.01).</summary>
    public static Action<Linear> NormalInit(double std) => linear =>
    {
        nn.init.normal_(linear.weight!, 0.0, std);
        nn.init.zeros_(linear.bias!);
    };

    /// <summary>Zero weights, PyTorch's default bias: the pre-activation ResNet of the NFNets repository.</summary>
    public static Action<Linear> ZeroWeightInit { get; } = linear =>
    {
        using (no_grad()) linear.weight!.zero_();
    };

    /// <summary>U(±1/√classes) weights, zero bias: automl's EfficientNet dense initializer.</summary>
    public static Action<Linear> UniformByClassesInit { get; } = linear =>
    {
        var bound = 1.0 / Math.Sqrt(linear.out_features);
        using (no_grad())
        {
            nn.init.uniform_(linear.weight!, -bound, bound);
            linear.bias!.zero_();
        }
    };

    private Linear? Create(long numClasses, Device? device)
    {
        if (numClasses == 0) return null;
        var linear = nn.Linear(NumFeatures, numClasses, hasBias: true, device: device);
        if (_init is not null && !linear.weight!.is_meta) _init(linear);
        return linear;
    }
}
