using NfNet.Devices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// Global pool (average by default; any of timm's, <see cref="GlobalPool"/>) → dropout (training only) → linear
/// classifier (<c>head.fc</c>, N(0, 0.01) weights and zero bias, as DeepMind and timm initialise it). With 0 classes
/// there is no classifier and it returns pooled features.
/// </summary>
public sealed class ClassifierHead : nn.Module<Tensor, Tensor>
{
    private Dropout drop;
    private readonly LinearClassifier _classifier;

    /// <summary>Classifier initialisation std (DeepMind <c>fc_init</c>, timm <c>zero_init_fc=False</c>).</summary>
    public const double ClassifierInitStd = 0.01;

    /// <summary>Creates the head for <paramref name="numFeatures"/> pooled features; <paramref name="path"/> is its
    /// state-dict path in the model; <paramref name="zeroInit"/> starts the classifier at zero (timm's <c>zero_init_fc</c>).</summary>
    public ClassifierHead(long numFeatures, long numClasses, double dropRate, Device? device = null, string path = "head", bool zeroInit = false,
        GlobalPool pool = GlobalPool.Avg) : base(nameof(ClassifierHead))
    {
        NumFeatures = numFeatures;
        Pool = pool;
        drop = nn.Dropout(dropRate);
        RegisterComponents();
        _classifier = new LinearClassifier(this, "fc", path + ".fc", pool.PooledWidth(numFeatures), numClasses,
            LinearClassifier.NormalInit(zeroInit ? 0.0 : ClassifierInitStd), device);
    }

    /// <summary>The global pool (set by the model's <see cref="ImageClassifier.ResetClassifier(int, GlobalPool?)"/>).</summary>
    public GlobalPool Pool { get; internal set; }

    /// <summary>Pooled feature width.</summary>
    public long NumFeatures { get; }

    /// <summary>Classifier outputs (0: none).</summary>
    public long NumClasses => _classifier.NumClasses;

    /// <summary>The classifier (shared with the model's classifier members).</summary>
    public LinearClassifier Classifier => _classifier;

    /// <summary>The classifier layer: a <see cref="Linear"/>, or an identity when there are 0 classes.</summary>
    public nn.Module<Tensor, Tensor> Fc => (nn.Module<Tensor, Tensor>?)_classifier.Layer ?? nn.Identity();

    /// <inheritdoc />
    public override Tensor forward(Tensor features) => forward(features, preLogits: false);

    /// <summary>Pools, applies dropout and (unless <paramref name="preLogits"/>) the classifier.</summary>
    public Tensor forward(Tensor features, bool preLogits)
    {
        using var scope = NewDisposeScope();
        var x = drop.call(Pool.Apply(features));
        if (!preLogits) x = _classifier.Apply(x);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>MACs of the classifier for one image.</summary>
    public long CountMacs() => _classifier.CountMacs();
}
