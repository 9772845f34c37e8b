using System.Text;
using NfNet.Devices;
using NfNet.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>
/// A normalizer-free network (Brock et al. 2021, "High-Performance Large-Scale Image Recognition Without
/// Normalization"; timm's <c>NormFreeNet</c>): stem → stages of <see cref="NFBlock"/>s → 1×1 <c>final_conv</c> (when
/// the configuration has one) → activation → average pool → dropout → linear classifier. Builds any
/// <see cref="NFNetConfig"/>: DeepMind's F0–F7, and every timm NormFreeNet (<see cref="NormFreeFamily"/>).
/// </summary>
/// <remarks>
/// The module tree uses timm's names, so <c>state_dict()</c> keys, shapes and order equal timm's (for <c>dm_nfnet_f*</c>:
/// (<c>stem.conv1.weight</c>, <c>stages.0.0.skipinit_gain</c>, <c>stages.1.0.downsample.conv.weight</c>,
/// <c>stages.0.0.attn_last.fc1.weight</c>, <c>final_conv.gain</c>, <c>head.fc.bias</c>, …).
/// Pass <c>torch.META</c> as the device to build a full-size model without allocating its weights.
/// </remarks>
public sealed class NFNet : ImageClassifier, IResidualTrunk
{
    private NFStem stem;
    private Sequential stages;
    private ScaledWSConv2d? final_conv;
    private ScaledActivation final_act;
    private ClassifierHead head;

    private readonly NFBlock[] _blocks;

    /// <summary>Builds the network described by <paramref name="config"/> (validated first).</summary>
    /// <param name="config">The architecture; see <see cref="NFNetVariants"/> for F0–F7.</param>
    /// <param name="device">Where to create the parameters; null for the default (CPU).</param>
    /// <exception cref="InvalidNFNetConfigException">The configuration is not buildable.</exception>
    public NFNet(NFNetConfig config, Device? device = null) : base(NFNetVariants.RegistryName(config ?? throw new ArgumentNullException(nameof(config))))
    {
        _config = config.Validate();
        BlockSpecs = NFBlockSpec.Schedule(config);

        stem = new NFStem(config, device);
        _blocks = BlockSpecs.Select(spec => new NFBlock(spec, config, device)).ToArray();
        var stageModules = new List<nn.Module<Tensor, Tensor>>();
        for (var s = 0; s < config.Depths.Count; s++)
            stageModules.Add(nn.Sequential(_blocks.Where(b => b.Spec.Stage == s).Cast<nn.Module<Tensor, Tensor>>().ToArray()));
        stages = nn.Sequential(stageModules.ToArray());
        final_conv = config.HasFinalConv ? config.Conv(config.StageWidth(config.Widths.Count - 1), config.NumFeatures, 1, device: device) : null;
        final_act = config.Act();
        head = new ClassifierHead(config.NumFeatures, config.NumClasses, config.DropRate, device, zeroInit: config.ZeroInitFc, pool: config.GlobalPool);
        RegisterComponents();

        // timm's feature_info: the stem's map, each stage's output, and final_conv's in place of the last stage's.
        var info = new List<FeatureInfo> { new((int)stem.FeatureChannels, 2, $"stem.{stem.FeatureModule}") };
        for (var s = 0; s < config.Depths.Count; s++)
            info.Add(new FeatureInfo(config.StageWidth(s), BlockSpecs.Last(b => b.Stage == s).NetStride, $"stages.{s}"));
        if (final_conv is not null) info[^1] = info[^1] with { Channels = config.NumFeatures, Module = "final_conv" };
        FeatureInfo = info;
    }

    /// <summary>Builds a named variant ("F0" … "F7", or timm's <c>dm_nfnet_f0</c> …) with optional overrides.</summary>
    /// <exception cref="UnknownVariantException">No such variant.</exception>
    public static NFNet Create(string variant, int? numClasses = null, int? inChannels = null, Device? device = null)
    {
        var config = NFNetVariants.Get(variant);
        if (numClasses is { } n) config = config with { NumClasses = n };
        if (inChannels is { } c) config = config with { InChannels = c };
        return new NFNet(config, device);
    }

    private NFNetConfig _config;

    /// <summary>The configuration this network was built from, with the head as it is now (class count and global pool
    /// after <see cref="ImageClassifier.ResetClassifier(int, GlobalPool?)"/>), so that a checkpoint rebuilds it.</summary>
    public NFNetConfig Config => _config;

    /// <summary>Per-block constants, in order.</summary>
    public IReadOnlyList<NFBlockSpec> BlockSpecs { get; }

    /// <summary>The blocks, in order (their <see cref="NFBlock.Spec"/> names them).</summary>
    public IReadOnlyList<NFBlock> Blocks => _blocks;

    /// <summary>The stem.</summary>
    public NFStem Stem => stem;

    /// <summary>Stage <paramref name="index"/> (a sequence of blocks).</summary>
    public nn.Module<Tensor, Tensor> Stage(int index) => (nn.Module<Tensor, Tensor>)stages[index];

    /// <summary>Number of stages.</summary>
    public int StageCount => Config.Depths.Count;

    /// <summary>The head (pool, dropout, classifier).</summary>
    public ClassifierHead Head => head;

    /// <summary>Width of the pooled features.</summary>
    public override int NumFeatures => Config.NumFeatures;

    /// <summary>Input image channels.</summary>
    public override int InChannels => Config.InChannels;

    /// <summary>The <see cref="NFNetConfig"/> (as <see cref="Config"/>).</summary>
    public override object Configuration => Config;

    /// <summary>A published variant's timm <c>pretrained_cfg</c> (F0–F6: test size, crop_pct, squash, bicubic, the Hub id);
    /// for another configuration its own train/eval resolutions with F0's evaluation crop. RandAugment is the
    /// configuration's (the paper's 4 ops at the variant's magnitude).</summary>
    public override PretrainedConfig PretrainedConfig => NFNetVariants.PretrainedConfigOf(Config);

    /// <inheritdoc />
    protected override LinearClassifier Classifier => head.Classifier;

    /// <summary>timm's NormFreeNet groups: the stem 0, block i of the network i + 1, <c>final_conv</c> with the last
    /// block, the head last.</summary>
    public override IReadOnlyList<(string Name, Parameter Parameter, int Depth)> ParameterDepths()
    {
        var blocks = _blocks.Select((b, i) => (Prefix: b.Spec.Name + ".", Depth: i + 1)).ToArray();
        int DepthOf(string name) =>
            name.StartsWith("stem.", StringComparison.Ordinal) ? 0
            : name.StartsWith("final_conv.", StringComparison.Ordinal) ? _blocks.Length
            : blocks.FirstOrDefault(b => name.StartsWith(b.Prefix, StringComparison.Ordinal)) is { Prefix: not null } block ? block.Depth
            : _blocks.Length + 1;
        return named_parameters().Select(p => (p.name, p.parameter, DepthOf(p.name))).ToArray();
    }

    /// <summary>Any of timm's global pools; <see cref="GlobalPool.None"/> only without a classifier.</summary>
    protected override long ConfigureHead(int numClasses, GlobalPool? globalPool)
    {
        var next = _config with { NumClasses = numClasses, GlobalPool = globalPool ?? head.Pool };
        if (next.GlobalPool == GlobalPool.None && numClasses != 0)
            throw new ArgumentException($"no pooling leaves a feature map, which a classifier cannot read: reset {ModelName} to 0 classes", nameof(globalPool));
        head.Pool = next.GlobalPool;
        _config = next;
        return next.GlobalPool.PooledWidth(next.NumFeatures);
    }

    /// <summary>Every block's <c>skipinit_gain</c> (initialised to 0), with its state-dict name; none without skipinit.</summary>
    public override IReadOnlyList<(string Name, Parameter Parameter)> ResidualGainParameters() =>
        _blocks.Where(b => b.SkipInitGain is not null).Select(b => ($"{b.Spec.Name}.skipinit_gain", b.SkipInitGain!)).ToArray();

    /// <inheritdoc />
    public Tensor ForwardStem(Tensor images)
    {
        CheckInput(images);
        return stem.call(images);
    }

    /// <inheritdoc />
    IReadOnlyList<IResidualBlock> IResidualTrunk.ResidualBlocks => _blocks;

    /// <summary>Logits [N, classes] for images [N, C, H, W] (pooled features [N, F] with no classifier).</summary>
    /// <exception cref="InvalidInputException">Not a 4-D floating tensor with the configured channel count.</exception>
    protected override Tensor ForwardLogits(Tensor input)
    {
        using var features = forward_features(input);
        return head.call(features);
    }

    /// <summary>
    /// The trunk: <c>final_act(final_conv(stages(stem(x))))</c>, [N, F, H/32, W/32] (ceil), before pooling
    /// (<c>final_act(stages(stem(x)))</c> without a final conv).
    /// </summary>
    /// <exception cref="InvalidInputException">Not a 4-D floating tensor with the configured channel count.</exception>
    public override Tensor forward_features(Tensor input)
    {
        CheckInput(input);
        using var scope = NewDisposeScope();
        var x = stem.call(input);
        for (var s = 0; s < StageCount; s++) x = RunStage(s, x);
        if (final_conv is not null) x = final_conv.call(x);
        x = final_act.call(x);
        return x.MoveToOuterDisposeScope();
    }

    private bool _gradCheckpointing;

    /// <summary>
    /// timm's <c>set_grad_checkpointing</c>: when on, each stage's activations are not kept for the backward pass but
    /// recomputed in it from the stage's input (<see cref="Layers"/>' gradient checkpointing), trading one more forward
    /// of the stages for their activation memory. The gradients are the same (the random state is restored for the
    /// recomputation, so stochastic depth drops the same samples). Off by default; only training forwards with autograd
    /// on are affected.
    /// </summary>
    public void SetGradCheckpointing(bool enable = true) => _gradCheckpointing = enable;

    /// <summary>Whether stages recompute their activations in the backward pass (<see cref="SetGradCheckpointing"/>).</summary>
    public bool GradCheckpointing => _gradCheckpointing;

    private Tensor RunStage(int index, Tensor x) =>
        _gradCheckpointing && training && is_grad_enabled() ? GradientCheckpoint.Run(Stage(index), x) : Stage(index).call(x);

    /// <summary>The feature maps the network offers as a backbone (timm's <c>feature_info</c>): the stem's (reduction 2),
    /// each stage's output, and <c>final_conv</c>'s in place of the last stage's when there is one.</summary>
    public IReadOnlyList<FeatureInfo> FeatureInfo { get; }

    /// <summary>
    /// The network as a backbone (timm's <c>features_only=True</c>): the feature maps of <see cref="FeatureInfo"/> at
    /// <paramref name="outIndices"/> (all when none are given), in index order, each [N, channels, ⌈H/reduction⌉,
    /// ⌈W/reduction⌉]. Only the layers up to the last index asked for run. The last stage's map is <c>final_conv</c>'s
    /// output before its activation, as timm's.
    /// </summary>
    /// <exception cref="InvalidInputException">Not a 4-D floating tensor with the configured channel count.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index outside <see cref="FeatureInfo"/>, or one given twice.</exception>
    public IReadOnlyList<Tensor> ForwardFeatureMaps(Tensor images, params int[] outIndices)
    {
        CheckInput(images);
        var wanted = outIndices is { Length: > 0 } ? outIndices.Order().ToArray() : Enumerable.Range(0, FeatureInfo.Count).ToArray();
        if (wanted.Any(i => i < 0 || i >= FeatureInfo.Count) || wanted.Distinct().Count() != wanted.Length)
            throw new ArgumentOutOfRangeException(nameof(outIndices), $"feature indices must be distinct, from 0 to {FeatureInfo.Count - 1}; got {string.Join(", ", outIndices)}");
        using var scope = NewDisposeScope();
        var maps = new List<Tensor>(wanted.Length);
        var (x, stemMap) = stem.ForwardWithFeature(images);
        if (wanted[0] == 0) maps.Add(stemMap);
        for (var s = 0; s < StageCount && s + 1 <= wanted[^1]; s++)
        {
            x = RunStage(s, x);
            if (s == StageCount - 1 && final_conv is not null) x = final_conv.call(x);
            if (wanted.Contains(s + 1)) maps.Add(x);
        }
        foreach (var map in maps) map.MoveToOuterDisposeScope();
        return maps;
    }

    /// <summary>The head on trunk features: logits, or with <paramref name="preLogits"/> the pooled features [N, F].</summary>
    public override Tensor forward_head(Tensor features, bool preLogits = false) =>
        preLogits ? head.forward(features, preLogits: true) : head.call(features);

    /// <summary>
    /// The trunk's multiply-accumulates on one image: every convolution and the SE FCs (biases, activations and pooling
    /// are not counted). With the classifier's, <see cref="ImageClassifier.CountMacs(int, int)"/> is DeepMind's
    /// <c>count_flops</c> (F0 at 256 px: 12.38 B).
    /// </summary>
    protected override long CountFeatureMacs(int height, int width)
    {
        var (stemMacs, sh, sw) = stem.CountMacs(height, width);
        var (blockMacs, h, w) = MacCount.OfChain(_blocks, sh, sw);
        return stemMacs + blockMacs + (final_conv?.CountMacs(h, w) ?? 0);
    }

    /// <summary>MACs at the configuration's evaluation resolution.</summary>
    public long CountMacs() => CountMacs(Config.EvalResolution, Config.EvalResolution);

    /// <summary>A readable summary: configuration, parameter count, MACs, and each stage's blocks, channels and output size.</summary>
    public override string Summary(int? resolution = null)
    {
        var res = resolution ?? Config.EvalResolution;
        var sb = new StringBuilder();
        sb.AppendLine($"NFNet {Config.Name}");
        sb.AppendLine($"  {Config}");
        sb.AppendLine($"  parameters        {ParameterCount():N0} in {parameters().Count()} tensors");
        sb.AppendLine($"  MACs @ {res}px      {CountMacs(res, res) / 1e9:F2} B");
        sb.AppendLine($"  train/eval px     {Config.TrainResolution}/{Config.EvalResolution}, dropout {Config.DropRate}, stochastic depth {Config.StochasticDepthRate}, RandAugment {Config.RandAugment}");
        var (_, h, w) = stem.CountMacs(res, res);
        sb.AppendLine($"  stem              {Config.StemType}, {Config.InChannels} -> {Config.StemChannels} ch, {h}x{w}");
        for (var s = 0; s < StageCount; s++)
        {
            var blocks = _blocks.Where(b => b.Spec.Stage == s).ToArray();
            foreach (var b in blocks) (_, h, w) = b.CountMacs(h, w);
            var first = blocks[0].Spec;
            var betas = string.Join(" ", blocks.Select(b => b.Spec.Beta.ToString("F4")));
            sb.AppendLine($"  stage {s}           {blocks.Length} blocks, {first.InChannels} -> {first.OutChannels} ch (mid {first.MidChannels}, {first.Groups} groups), stride {first.Stride}, {h}x{w}, beta {betas}");
        }
        if (final_conv is not null) sb.AppendLine($"  final_conv        {Config.StageWidth(Config.Widths.Count - 1)} -> {Config.NumFeatures} ch, {h}x{w}");
        sb.Append($"  head              pool -> dropout {Config.DropRate} -> linear {Config.NumFeatures} -> {NumClasses}");
        return sb.ToString();
    }

    private void CheckInput(Tensor input) =>
        InvalidInputException.ThrowIfNotImageBatch(input, $"NFNet {Config.Name}", Config.InChannels, stem.FirstWeight);
}
