using System.Diagnostics;
using NfNet.Devices;
using NfNet.Optim;
using NfNet.Training.Augmentation;
using NfNet.Training.Checkpoints;
using NfNet.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training;

/// <summary>
/// Trains an image classifier (an NFNet or any <c>Module&lt;Tensor, Tensor&gt;</c>) with the NFNet recipe: SGD with
/// Nesterov momentum wrapped in AGC (weight decay after clipping), optionally SAM, linear warm-up then cosine decay per
/// step, label smoothing, crop/flip and MixUp/CutMix, mixed bf16, EMA, checkpoints and resume.
/// </summary>
/// <remarks>
/// Each step runs inside a dispose scope, so memory does not grow over a run. A non-finite loss stops training with
/// <see cref="TrainingDivergedException"/> naming the step. Randomness (shuffling, augmentation, stochastic depth,
/// dropout) is derived from <see cref="TrainerOptions.Seed"/> and the epoch/step, so a run resumed from a checkpoint
/// continues exactly as the uninterrupted run would (on CPU).
/// </remarks>
public sealed class Trainer : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly int _classes;
    private readonly List<EpochMetrics> _history = new();
    private WarmupCosineSchedule? _schedule;
    private long _stepsPerEpoch;
    private EpochPlan _plan = new();
    private readonly LastMiniBatchDistillation? _dlb;

    /// <summary>Prepares training of <paramref name="model"/> (already on its device; float32 for mixed precision).</summary>
    public Trainer(nn.Module<Tensor, Tensor> model, int classes, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes));
        if (options.Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(options), "Epochs must be positive");
        if (options.BatchSize <= 0 || options.AccumulationSteps <= 0 || options.BatchSize % options.AccumulationSteps != 0)
            throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be a positive multiple of AccumulationSteps");
        if (options.TuneNativeAllocator) NativeAllocator.TuneForTensors();
        _model = model;
        _classes = classes;
        Options = options;
        Optimizer = BuildOptimizer(model, options);
        if (options.EmaDecay is { } decay) Ema = new ExponentialMovingAverage(model, decay);
        if (options.DlbAlpha is { } alpha)
        {
            if (options.SamRho > 0 || options.AccumulationSteps != 1)
                throw new ArgumentException("DLB self-distillation cannot be combined with SAM or gradient accumulation", nameof(options));
            _dlb = new LastMiniBatchDistillation(options.DlbTemperature, alpha);
        }
    }

    /// <summary>The options.</summary>
    public TrainerOptions Options { get; }
    /// <summary>The optimizer stack (SAM → AGC → SGD, as configured).</summary>
    public optim.Optimizer Optimizer { get; }
    /// <summary>The EMA of the weights, when enabled.</summary>
    public ExponentialMovingAverage? Ema { get; }
    /// <summary>Optimizer steps taken so far.</summary>
    public long Step { get; private set; }
    /// <summary>Per-epoch metrics so far.</summary>
    public IReadOnlyList<EpochMetrics> History => _history;
    /// <summary>Called after every step.</summary>
    public event Action<StepProgress>? StepCompleted;
    /// <summary>Called after every epoch.</summary>
    public event Action<EpochMetrics>? EpochCompleted;

    private static optim.Optimizer BuildOptimizer(nn.Module model, TrainerOptions o)
    {
        optim.Optimizer opt = o.ClipFactor is { } lambda
            ? NFNetRecipe.CreateSgdAgc(model, o.PeakLearningRate, o.WeightDecay, lambda, clipSkipInitGain: o.ClipSkipInitGain)
            : optim.SGD(model.parameters(), o.PeakLearningRate, momentum: NFNetRecipe.Momentum, nesterov: true, weight_decay: o.WeightDecay);
        return o.SamRho > 0 ? new SharpnessAwareMinimization(opt, o.SamRho) : opt;
    }

    /// <summary>Restores model, optimizer, EMA and counters from <paramref name="path"/> (call before <see cref="Fit"/>).</summary>
    public CheckpointInfo Resume(string path)
    {
        var info = TrainingCheckpoint.Load(path, _model, Optimizer, Ema);
        Step = info.Step;
        return info;
    }

    /// <summary>Trains for the configured epochs (continuing from <see cref="Step"/>), evaluating on
    /// <paramref name="test"/> after each epoch when given.</summary>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public IReadOnlyList<EpochMetrics> Fit(IDataSource train, IDataSource? test = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        var o = Options;
        _stepsPerEpoch = train.Count / o.BatchSize;
        if (_stepsPerEpoch == 0) throw new ArgumentException($"the training set ({train.Count}) is smaller than one batch ({o.BatchSize})", nameof(train));
        var total = checked((int)(_stepsPerEpoch * o.Epochs));
        var warmup = Math.Min(total, (int)Math.Round(o.WarmupEpochs * _stepsPerEpoch));
        _schedule = new WarmupCosineSchedule(Optimizer, warmup, total, currentStep: (int)Step);
        var computeType = Precision.ComputeType(o.Precision);
        var device = _model.parameters().First().device;

        for (var epoch = (int)(Step / _stepsPerEpoch); epoch < o.Epochs; epoch++)
        {
            if (o.MaxSteps is { } max && Step >= max) break;
            _model.train();
            _plan = o.Plan?.Invoke(epoch) ?? new EpochPlan();
            var clock = Stopwatch.StartNew();
            double lossSum = 0, correct = 0, seen = 0;
            var indexInEpoch = 0L;
            var skip = Step - epoch * _stepsPerEpoch; // batches already trained (resume mid-epoch)
            foreach (var (images, labels) in train.Batches(o.BatchSize, shuffle: true, seed: DeterministicSeed.Combine(o.Seed, epoch), dropLast: true))
            {
                using var ownedImages = images;
                using var ownedLabels = labels;
                using var scope = NewDisposeScope();
                if (indexInEpoch++ < skip) continue;
                if (o.MaxSteps is { } m && Step >= m) break;
                var (loss, acc) = TrainStep(images, labels, computeType, device);
                lossSum += loss * labels.shape[0];
                correct += acc * labels.shape[0];
                seen += labels.shape[0];
                var lr = Optimizer.ParamGroups.First().LearningRate;
                Step++;
                _schedule.step();
                StepCompleted?.Invoke(new StepProgress(epoch, Step, _stepsPerEpoch, total, loss, acc, lr, seen / clock.Elapsed.TotalSeconds));
                if (o.CheckpointPath is { } p && o.CheckpointEverySteps > 0 && Step % o.CheckpointEverySteps == 0) SaveCheckpoint(p, epoch);
            }
            var seconds = clock.Elapsed.TotalSeconds;
            EvaluationResult? result = null, emaResult = null;
            if (test is not null)
            {
                result = Evaluate(test);
                if (Ema is not null) using (Ema.ApplyTo(_model)) emaResult = Evaluate(test);
            }
            var metrics = new EpochMetrics(epoch + 1, Step, seen > 0 ? lossSum / seen : double.NaN, seen > 0 ? correct / seen : double.NaN,
                Optimizer.ParamGroups.First().LearningRate, result, emaResult, seconds, seen / seconds);
            _history.Add(metrics);
            EpochCompleted?.Invoke(metrics);
            if (o.CheckpointPath is { } path) SaveCheckpoint(path, epoch + 1);
        }
        return _history;
    }

    private (double Loss, double Accuracy) TrainStep(Tensor images, Tensor labels, ScalarType computeType, Device device)
    {
        var o = Options;
        manual_seed(DeterministicSeed.Combine(o.Seed, Step, 17));
        var random = new Random(DeterministicSeed.Combine(o.Seed, Step));
        var x = images.to(device);
        var y = labels.to(device);
        var augment = _plan.Augment ?? o.Augment;
        var mix = _plan.Mix ?? o.Mix;
        var smoothing = _plan.LabelSmoothing ?? o.LabelSmoothing;
        if (augment is not null) x = augment.Apply(x, random);
        x = ResizeToPlan(x);
        Tensor targets;
        if (mix is not null) (x, targets) = mix.Apply(x, y, _classes, random);
        else targets = nn.functional.one_hot(y, _classes).to(ScalarType.Float32);
        if (smoothing > 0) targets = SoftTargets.Smooth(targets, smoothing);
        x = x.to(computeType);

        if (_dlb is not null) return DlbStep(images, x, y, augment, random, computeType, device);

        double accuracy = 0;
        Tensor Closure()
        {
            Tensor? total = null;
            var micro = o.AccumulationSteps;
            var size = x.shape[0] / micro;
            long right = 0;
            for (var i = 0; i < micro; i++)
            {
                var xb = micro == 1 ? x : x.narrow(0, i * size, size);
                var tb = micro == 1 ? targets : targets.narrow(0, i * size, size);
                var logits = _model.call(xb);
                var loss = SoftTargets.CrossEntropy(logits, tb);
                (micro == 1 ? loss : loss / micro).backward();
                right += logits.argmax(1).eq(micro == 1 ? y : y.narrow(0, i * size, size)).sum().ToInt64();
                total = total is null ? loss.detach() / micro : total + loss.detach() / micro;
            }
            accuracy = (double)right / x.shape[0];
            return total!;
        }

        Optimizer.zero_grad();
        double lossValue;
        if (Optimizer is SharpnessAwareMinimization) lossValue = Finite(Optimizer.step(Closure));
        else
        {
            lossValue = Finite(Closure()); // checked before the step: a NaN loss never reaches the weights
            Optimizer.step();
        }
        Ema?.Update(_model);
        return (lossValue, accuracy);
    }

    private (double Loss, double Accuracy) DlbStep(Tensor images, Tensor x, Tensor y, RandomCropFlip? augment, Random random,
        ScalarType computeType, Device device)
    {
        Optimizer.zero_grad();
        var logits = _model.call(x);
        Tensor? previousNow = null;
        if (_dlb!.Previous is { } prev)
        {
            var view = prev.Images.to(device);
            if (augment is not null) view = augment.Apply(view, random);    // a second, independent view
            view = ResizeToPlan(view);
            previousNow = _model.call(view.to(computeType));
        }
        var loss = _dlb.Loss(logits, y, previousNow);
        var value = Finite(loss);
        loss.backward();
        Optimizer.step();
        _dlb.Remember(images, y, logits);
        Ema?.Update(_model);
        return (value, logits.argmax(1).eq(y).to(ScalarType.Float32).mean().ToDouble());
    }

    /// <summary>Resizes a batch (bilinear) to the epoch plan's image size, if it sets one that differs.</summary>
    private Tensor ResizeToPlan(Tensor x) =>
        _plan.ImageSize is { } size && (x.shape[2] != size || x.shape[3] != size)
            ? nn.functional.interpolate(x, new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false)
            : x;

    private double Finite(Tensor loss)
    {
        var v = loss.ToDouble();
        return double.IsFinite(v) ? v : throw new TrainingDivergedException(Step, v);
    }

    /// <summary>Top-1/top-5 accuracy and mean cross-entropy on <paramref name="data"/> (eval mode, no gradients).</summary>
    public EvaluationResult Evaluate(IDataSource data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var computeType = Precision.ComputeType(Options.Precision);
        var device = _model.parameters().First().device;
        var wasTraining = _model.training;
        _model.eval();
        double top1 = 0, top5 = 0, loss = 0;
        long count = 0;
        using (no_grad())
        {
            foreach (var (images, labels) in data.Batches(Options.EvalBatchSize, shuffle: false))
            {
                using var ownedImages = images;
                using var ownedLabels = labels;
                using var scope = NewDisposeScope();
                var y = labels.to(device);
                var logits = _model.call(images.to(device).to(computeType)).to(ScalarType.Float32);
                loss += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).ToDouble();
                top1 += logits.argmax(1).eq(y).sum().ToInt64();
                var k = Math.Min(5, logits.shape[1]);
                top5 += logits.topk((int)k, 1).indexes.eq(y.unsqueeze(1)).any(1).sum().ToInt64();
                count += labels.shape[0];
            }
        }
        if (wasTraining) _model.train();
        return new EvaluationResult(top1 / count, top5 / count, loss / count, count);
    }

    /// <summary>Writes a checkpoint now.</summary>
    public void SaveCheckpoint(string path, int epoch) =>
        TrainingCheckpoint.Save(path, _model, Optimizer, Ema, new CheckpointInfo(epoch, Step, Ema?.UpdateCount ?? 0, _model.GetName(),
            _model is NfNet.Models.NFNet n ? System.Text.Json.JsonSerializer.Serialize(n.Config) : null, Options.Seed));

    /// <inheritdoc />
    public void Dispose()
    {
        Ema?.Dispose();
        _dlb?.Dispose();
    }
}
