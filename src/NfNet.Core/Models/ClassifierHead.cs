using NfNet.Devices;
using NfNet.Internal;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// Global average pool → dropout (training only) → linear classifier (<c>head.fc</c>, N(0, 0.01) weights and zero
/// bias, as DeepMind and timm initialise it). With 0 classes there is no classifier and it returns pooled features.
/// </summary>
public sealed class ClassifierHead : nn.Module<Tensor, Tensor>
{
    private Dropout drop;
    private nn.Module<Tensor, Tensor> fc;

    /// <summary>Classifier initialisation std (DeepMind <c>fc_init</c>, timm <c>zero_init_fc=False</c>).</summary>
    public const double ClassifierInitStd = 0.01;

    /// <summary>Creates the head for <paramref name="numFeatures"/> pooled features.</summary>
    public ClassifierHead(long numFeatures, long numClasses, double dropRate, Device? device = null) : base(nameof(ClassifierHead))
    {
        NumFeatures = numFeatures;
        drop = nn.Dropout(dropRate);
        fc = CreateClassifier(numFeatures, numClasses, device);
        NumClasses = numClasses;
        RegisterComponents();
    }

    /// <summary>Pooled feature width.</summary>
    public long NumFeatures { get; }

    /// <summary>Classifier outputs (0: none).</summary>
    public long NumClasses { get; private set; }

    /// <summary>The classifier: a <see cref="Linear"/>, or an identity when there are 0 classes.</summary>
    public nn.Module<Tensor, Tensor> Fc => fc;

    /// <summary>Replaces the classifier by a freshly initialised one with <paramref name="numClasses"/> outputs (0: none).</summary>
    public void Reset(long numClasses, Device? device = null)
    {
        if (numClasses < 0) throw new InvalidNFNetConfigException($"num_classes must be >= 0, got {numClasses}", nameof(numClasses));
        var old = fc;
        fc = CreateClassifier(NumFeatures, numClasses, device);
        TorchSharpInternals.ReplaceSubmodule(this, "fc", fc);
        NumClasses = numClasses;
        old.Dispose();
    }

    /// <summary>Global average pool over H and W: [N, C, H, W] → [N, C].</summary>
    public static Tensor Pool(Tensor features) => features.mean(new long[] { 2, 3 });

    /// <inheritdoc />
    public override Tensor forward(Tensor features) => forward(features, preLogits: false);

    /// <summary>Pools, applies dropout and (unless <paramref name="preLogits"/>) the classifier.</summary>
    public Tensor forward(Tensor features, bool preLogits)
    {
        using var scope = NewDisposeScope();
        var x = drop.forward(Pool(features));
        if (!preLogits)
        {
            // Mixed precision: reduced-precision features meet the classifier's own (fp32) weights, so logits are fp32.
            if (fc.parameters().FirstOrDefault() is { } p) x = Precision.Match(x, p.dtype);
            x = fc.forward(x);
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>MACs of the classifier for one image.</summary>
    public long CountMacs() => NumFeatures * NumClasses;

    private static nn.Module<Tensor, Tensor> CreateClassifier(long numFeatures, long numClasses, Device? device)
    {
        if (numClasses == 0) return nn.Identity();
        var linear = nn.Linear(numFeatures, numClasses, hasBias: true, device: device);
        nn.init.normal_(linear.weight!, 0.0, ClassifierInitStd);
        nn.init.zeros_(linear.bias!);
        return linear;
    }
}
