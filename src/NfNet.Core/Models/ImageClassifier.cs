using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// The model contract: what every NfNet.NET image classifier (the NFNet family and every comparison model) offers, so
/// that optimizers, the trainer, checkpoints, signal-propagation reports, benchmarks and exporters work from it instead
/// of from parameter-name strings or downcasts to a concrete model. It follows timm's model interface
/// (<c>forward_features</c>, <c>forward_head</c>, <c>num_features</c>, <c>get_classifier</c>,
/// <c>reset_classifier</c>); <see cref="ModelRegistry"/> builds any registered model by its timm name.
/// </summary>
/// <remarks>
/// A model of your own can derive from this class and take part in everything the library does with models (the
/// trainer, AGC's parameter selection, the weight-decay split). <c>forward(x)</c> is
/// <see cref="ForwardLogits"/>, <c>forward_head(forward_features(x))</c> unless a model overrides it.
/// <para>Threads: after <see cref="OptimizeForInference"/> a model's <c>forward</c> (and <c>call</c>) may run on any
/// number of threads at once, also while another thread loads weights into it or into any other model: loads go
/// through <see cref="Weights.ModelWeights"/>, which waits for the forwards in flight and makes the next ones wait, so
/// each forward sees one set of weights. <c>forward_features</c> and <c>forward_head</c> called directly take no part in
/// that exclusion. A model in training is used by one thread.</para>
/// </remarks>
public abstract class ImageClassifier : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the module; <paramref name="name"/> is its registry name (<see cref="ModelName"/>), which is also
    /// its TorchSharp module name.</summary>
    protected ImageClassifier(string name) : base(Platform.NativeRuntime.Then(name)) { }

    /// <summary>The model's name in <see cref="ModelRegistry"/> (<c>dm_nfnet_f0</c>, <c>resnetv2_50</c>, …), or its
    /// configuration's name for a model built from a configuration of its own. Checkpoints and ONNX metadata record it.</summary>
    public string ModelName => GetName();

    /// <summary>What the model expects of its images and where its published weights are (timm's
    /// <c>pretrained_cfg</c>); timm's defaults (224 px, ImageNet statistics, crop 0.875) unless the model says otherwise.</summary>
    public virtual PretrainedConfig PretrainedConfig => PretrainedConfig.ImageNetDefault;

    /// <summary>Input image channels (3 for RGB).</summary>
    public abstract int InChannels { get; }

    /// <summary>Classifier outputs; 0 when the model has no classifier (then <c>forward</c> returns pooled features).</summary>
    public long NumClasses => Classifier.NumClasses;

    /// <summary>The model's final linear classifier (the one implementation of the classifier members every model shares).</summary>
    protected abstract LinearClassifier Classifier { get; }

    /// <summary>Width of the pooled features that the classifier reads (timm's <c>num_features</c>).</summary>
    public abstract int NumFeatures { get; }

    /// <summary>Width of the pooled features the classifier reads (<see cref="forward_head"/> with <c>preLogits</c>):
    /// <see cref="NumFeatures"/>, doubled by the <see cref="GlobalPool.CatAvgMax"/> pool.</summary>
    public long PooledFeatures => Classifier.NumFeatures;

    /// <summary>The configuration record the model was built from (serialised into checkpoints).</summary>
    public abstract object Configuration { get; }

    /// <summary>The trunk: images [N, C, H, W] to the last feature map, before pooling.</summary>
    /// <exception cref="InvalidInputException">The input is not a floating image batch with <see cref="InChannels"/> channels.</exception>
    public abstract Tensor forward_features(Tensor images);

    /// <summary>The head on trunk features: logits [N, classes], or with <paramref name="preLogits"/> the pooled
    /// features [N, <see cref="NumFeatures"/>].</summary>
    public abstract Tensor forward_head(Tensor features, bool preLogits = false);

    /// <summary>Logits [N, classes] for images [N, C, H, W]; the weights cannot change while it runs (see the remarks
    /// on threads).</summary>
    public sealed override Tensor forward(Tensor images)
    {
        using var hold = Weights.ModelWeights.Read(this);
        return ForwardLogits(images);
    }

    /// <summary>What <c>forward</c> computes: <c>forward_head(forward_features(images))</c> unless a model needs more.</summary>
    protected virtual Tensor ForwardLogits(Tensor images)
    {
        using var features = forward_features(images);
        return forward_head(features);
    }

    /// <summary>The final classifier's parameters (weight first, then bias), with their state-dict names; empty with no
    /// classifier. AGC leaves these unclipped (Brock et al. 2021, §4.1).</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> ClassifierParameters() => Classifier.Parameters();

    /// <summary>Zero-initialised residual-branch gains (SkipInit, De &amp; Smith 2020: NFNet's and NF-ResNet's
    /// <c>skipinit_gain</c>); empty for models without them. Short runs leave these unclipped (see
    /// <c>AgcParameters</c>).</summary>
    public virtual IReadOnlyList<(string Name, Parameter Parameter)> ResidualGainParameters() =>
        Array.Empty<(string, Parameter)>();

    /// <summary>
    /// Every parameter with its depth, from the input (0) to the classifier (the largest), as timm's
    /// <c>group_matcher(coarse=False)</c> orders them for layer-wise learning-rate decay (BEiT's; timm's
    /// <c>--layer-decay</c>). By default each top-level module is one depth in registration order and the classifier
    /// the last; the NormFreeNet family has timm's groups (the stem, each block, <c>final_conv</c> with the last block,
    /// the head).
    /// </summary>
    public virtual IReadOnlyList<(string Name, Parameter Parameter, int Depth)> ParameterDepths()
    {
        var classifier = Classifier.Parameters().Select(p => p.Name).ToHashSet();
        var modules = named_children().Select(c => c.name).ToList();
        var trunk = named_parameters().Where(p => !classifier.Contains(p.name))
            .Select(p => (Name: p.name, Parameter: p.parameter, Depth: Math.Max(0, modules.IndexOf(p.name.Split('.')[0])))).ToList();
        var last = trunk.Count == 0 ? 0 : trunk.Max(p => p.Depth) + 1;
        return trunk.Concat(Classifier.Parameters().Select(p => (p.Name, p.Parameter, last))).ToArray();
    }

    /// <summary>The parameters the paper's weight decay applies to: the weights of convolutions and linear layers;
    /// not gains, biases, norm scales, residual gains or position tables (DeepMind <c>experiment_nfnets.py</c>).</summary>
    public virtual IReadOnlyList<(string Name, Parameter Parameter)> DecayedParameters() => ParameterRoles.LinearMapWeights(this);

    /// <summary>Replaces the classifier by a freshly initialised one with <paramref name="numClasses"/> outputs (0
    /// removes it), on the trunk's device and dtype, with the model's own classifier initialisation. For fine-tuning on
    /// another label set.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numClasses"/> is negative.</exception>
    public void ResetClassifier(int numClasses) => ResetClassifier(numClasses, null);

    /// <summary>timm's <c>reset_classifier(num_classes, global_pool)</c>: <see cref="ResetClassifier(int)"/>, and the
    /// head's global pool replaced by <paramref name="globalPool"/> (null keeps it). The NormFreeNet family has every
    /// pool of <see cref="GlobalPool"/>; the other models pool by average only.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numClasses"/> is negative.</exception>
    /// <exception cref="ArgumentException">The model has no such pool, or <see cref="GlobalPool.None"/> with a classifier.</exception>
    public void ResetClassifier(int numClasses, GlobalPool? globalPool)
    {
        CheckClassCount(numClasses);
        var classifier = Classifier.Parameters().Select(p => p.Parameter.Handle).ToHashSet();
        var reference = parameters().FirstOrDefault(p => !classifier.Contains(p.Handle))
            ?? throw new InvalidOperationException($"{ModelName} has no parameters outside its classifier to take the device and dtype from");
        var pooledWidth = ConfigureHead(numClasses, globalPool);
        Classifier.Reset(numClasses, reference.device, reference.dtype, pooledWidth);
    }

    /// <summary>Called by <see cref="ResetClassifier(int, GlobalPool?)"/> before the classifier is replaced: checks and
    /// applies the pool and records the new head; returns the classifier's input width.</summary>
    /// <exception cref="ArgumentException">The model has no such pool.</exception>
    protected virtual long ConfigureHead(int numClasses, GlobalPool? globalPool)
    {
        if (globalPool is { } pool && pool != GlobalPool.Avg)
            throw new ArgumentException($"{ModelName} pools by average only (timm's other global pools are built for the NormFreeNet family)", nameof(globalPool));
        return Classifier.NumFeatures;
    }

    /// <summary>
    /// Prepares the model for inference: eval mode and frozen parameters (<c>requires_grad = false</c>), so every
    /// <see cref="Layers.ScaledWSConv2d"/> computes its standardized weight once and reuses it, exactly (see
    /// <see cref="Layers.ScaledWSConv2d.FreezeForInference"/> for what recomputes it). Call <c>train()</c> and unfreeze the
    /// parameters (<c>requires_grad_(true)</c>) to train again; the caches are dropped by then.
    /// </summary>
    public void OptimizeForInference()
    {
        eval();
        foreach (var p in parameters()) p.requires_grad_(false);
        foreach (var conv in modules().OfType<Layers.ScaledWSConv2d>()) conv.FreezeForInference();
    }

    /// <summary>A readable summary of the model at <paramref name="resolution"/> px (default: its test size): name,
    /// parameters, MACs, input and classes; models add their structure (an NFNet lists its stages).</summary>
    public virtual string Summary(int? resolution = null)
    {
        var px = resolution ?? PretrainedConfig.TestInputSize;
        return $"{ModelName}: {ParameterCount():N0} parameters, {CountMacs(px, px) / 1e9:F2} GMACs at {px} px, {InChannels} input channels, " +
               $"{NumClasses} classes, {NumFeatures} features";
    }

    /// <summary>Total number of parameter elements.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());

    /// <summary>Multiply-accumulates of one forward pass on one <paramref name="height"/> × <paramref name="width"/>
    /// image (convolutions, linear layers and attention products; not biases, activations, norms or pooling), as the
    /// papers' FLOP columns count them.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    public long CountMacs(int height, int width)
    {
        CheckImageSize(height, width);
        return CountFeatureMacs(height, width) + Classifier.CountMacs();
    }

    /// <summary>The MACs of <see cref="forward_features"/> on one image (everything but the classifier); sizes are
    /// checked by <see cref="CountMacs(int, int)"/>.</summary>
    protected abstract long CountFeatureMacs(int height, int width);

    /// <summary>Throws when <paramref name="height"/> or <paramref name="width"/> is not positive.</summary>
    protected static void CheckImageSize(int height, int width)
    {
        if (height <= 0 || width <= 0)
            throw new ArgumentOutOfRangeException(nameof(height), $"image size must be positive, got {height}x{width}");
    }

    /// <summary>Throws when <paramref name="numClasses"/> is negative.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numClasses"/> &lt; 0.</exception>
    protected static void CheckClassCount(int numClasses)
    {
        if (numClasses < 0) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "the class count must be >= 0 (0 removes the classifier)");
    }
}
