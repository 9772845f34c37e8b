using System.Diagnostics;
using NfNet.Devices;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Training.Augmentation;
using NfNet.Training.Checkpoints;
using NfNet.Training.Data;
using NfNet.Training.Steps;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training;

/// <summary>
/// Trains an image classifier (any <see cref="ImageClassifier"/> of the registry, or any <c>Module&lt;Tensor, Tensor&gt;</c>)
/// with the NFNet recipe: the optimizer from <see cref="TrainerOptions.OptimizerFactory"/> (by default SGD with Nesterov
/// momentum wrapped in AGC, weight decay after clipping), a plain, SAM or DLB step, linear warm-up then cosine decay per
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
    private int? _completedEpochs;
    private EpochPlan _plan = new();
    private readonly ITrainingStep _step;

    /// <summary>Prepares training of <paramref name="model"/> (already on its device; float32 for mixed precision) on
    /// its <see cref="ImageClassifier.NumClasses"/> classes.</summary>
    /// <exception cref="ArgumentException">The model has fewer than 2 classes, or the options are inconsistent.</exception>
    public Trainer(ImageClassifier model, TrainerOptions options)
        : this(model, checked((int)(model ?? throw new ArgumentNullException(nameof(model))).NumClasses), options) { }

    /// <summary>Prepares training of <paramref name="model"/> (already on its device; float32 for mixed precision).</summary>
    /// <exception cref="ArgumentException">Fewer than 2 classes, or the options are inconsistent.</exception>
    public Trainer(nn.Module<Tensor, Tensor> model, int classes, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        NativeRuntime.EnsureLoaded();
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes));
        if (options.Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(options), "Epochs must be positive");
        if (options.KeepCheckpoints < 1) throw new ArgumentOutOfRangeException(nameof(options), "KeepCheckpoints must be at least 1");
        if (options.BatchSize <= 0 || options.AccumulationSteps <= 0 || options.BatchSize % options.AccumulationSteps != 0)
            throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be a positive multiple of AccumulationSteps");
        if (options.TuneNativeAllocator) NativeAllocator.TuneForTensors();
        _model = model;
        _classes = classes;
        Options = options;
        if (options.DlbAlpha is not null)
        {
            if (options.SamRho > 0 || options.AccumulationSteps != 1)
                throw new ArgumentException("DLB self-distillation cannot be combined with SAM or gradient accumulation", nameof(options));
            if (options.Mix is not null)
                throw new ArgumentException("DLB self-distillation trains on hard labels: it cannot be combined with MixUp/CutMix (TrainerOptions.Mix)", nameof(options));
        }
        var optimizer = (options.OptimizerFactory ?? TrainerOptimizers.Recipe)(model, options)
            ?? throw new ArgumentException("TrainerOptions.OptimizerFactory returned null", nameof(options));
        Optimizer = options.SamRho > 0 ? new SharpnessAwareMinimization(optimizer, options.SamRho) : optimizer;
        if (options.EmaDecay is { } decay) Ema = new ExponentialMovingAverage(model, decay);
        _step = TrainingSteps.For(new StepContext(model, Optimizer, options, classes));
    }

    /// <summary>The options.</summary>
    public TrainerOptions Options { get; }
    /// <summary>The optimizer stack (SAM → the factory's optimizer, by default AGC → SGD).</summary>
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

    /// <summary>Restores model, optimizer, EMA and counters from <paramref name="path"/> (call before <see cref="Fit"/>).</summary>
    /// <exception cref="CheckpointFormatException">The checkpoint is damaged or does not fit; nothing was changed.</exception>
    public CheckpointInfo Resume(string path)
    {
        var info = TrainingCheckpoint.Load(path, _model, Optimizer, Ema);
        Step = info.Step;
        _completedEpochs = info.Epoch;
        return info;
    }

    /// <summary>
    /// Resumes from the newest checkpoint at <paramref name="path"/> or kept beside it (<see cref="TrainerOptions.KeepCheckpoints"/>)
    /// that verifies, skipping damaged ones; <paramref name="skipped"/> lists those with the reason.
    /// </summary>
    /// <returns>The checkpoint used and its counters, or null when there is no valid checkpoint (nothing changed).</returns>
    public (string Path, CheckpointInfo Info)? ResumeNewest(string path, out IReadOnlyList<(string Path, string Reason)> skipped)
    {
        var newest = TrainingCheckpoint.FindNewestValid(path, out skipped);
        return newest is null ? null : (newest, Resume(newest));
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
        var device = _model.parameters().First().device;

        // A checkpoint written after an epoch's last step but before its evaluation and end-of-epoch checkpoint (a crash
        // in between) resumes into that epoch: its steps are all skipped, and its evaluation and checkpoint still run.
        var firstEpoch = (int)(Step / _stepsPerEpoch);
        if (_completedEpochs is { } completed && completed < firstEpoch) firstEpoch = completed;
        for (var epoch = firstEpoch; epoch < o.Epochs; epoch++)
        {
            if (o.MaxSteps is { } max && Step >= max) break;
            _model.train();
            _plan = o.Plan?.Invoke(epoch) ?? new EpochPlan();
            if (o.DlbAlpha is not null && _plan.Mix is not null)
                throw new InvalidOperationException($"the progressive-learning plan sets MixUp/CutMix for epoch {epoch + 1}, but DLB self-distillation trains on hard labels");
            var clock = Stopwatch.StartNew();
            double lossSum = 0, correct = 0, seen = 0;
            var indexInEpoch = 0L;
            var skip = Step - epoch * _stepsPerEpoch; // batches already trained (resume mid-epoch)
            var skippedBefore = (train as ISkippedSampleCounter)?.SkippedSamples ?? 0;
            long Skipped() => ((train as ISkippedSampleCounter)?.SkippedSamples ?? 0) - skippedBefore;
            foreach (var (images, labels) in train.Batches(o.BatchSize, shuffle: true, seed: DeterministicSeed.Combine(o.Seed, epoch), dropLast: true))
            {
                using var ownedImages = images;
                using var ownedLabels = labels;
                using var scope = NewDisposeScope();
                if (indexInEpoch++ < skip) continue;
                if (o.MaxSteps is { } m && Step >= m) break;
                var (loss, acc) = TrainStep(images, labels, device);
                lossSum += loss * labels.shape[0];
                correct += acc * labels.shape[0];
                seen += labels.shape[0];
                var lr = Optimizer.ParamGroups.First().LearningRate;
                Step++;
                _schedule.step();
                StepCompleted?.Invoke(new StepProgress(epoch, Step, _stepsPerEpoch, total, loss, acc, lr, seen / clock.Elapsed.TotalSeconds, Skipped()));
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
                Optimizer.ParamGroups.First().LearningRate, result, emaResult, seconds, seen / seconds, Skipped());
            _history.Add(metrics);
            EpochCompleted?.Invoke(metrics);
            if (o.CheckpointPath is { } path) SaveCheckpoint(path, epoch + 1);
        }
        return _history;
    }

    private (double Loss, double Accuracy) TrainStep(Tensor images, Tensor labels, Device device)
    {
        manual_seed(DeterministicSeed.Combine(Options.Seed, Step, 17));
        var random = new Random(DeterministicSeed.Combine(Options.Seed, Step));
        var result = _step.Run(new StepBatch(images, images.to(device), labels.to(device), random, _plan, Step));
        Ema?.Update(_model);
        return result;
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
        try
        {
            using var _ = no_grad();
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
        finally
        {
            if (wasTraining) _model.train(); // also when evaluation throws: the next step must not run in eval mode
        }
        return new EvaluationResult(top1 / count, top5 / count, loss / count, count);
    }

    /// <summary>Writes a checkpoint now.</summary>
    public void SaveCheckpoint(string path, int epoch) =>
        TrainingCheckpoint.Save(path, _model, Optimizer, Ema, new CheckpointInfo(epoch, Step, Ema?.UpdateCount ?? 0, _model.GetName(),
            _model is ImageClassifier c ? System.Text.Json.JsonSerializer.Serialize(c.Configuration, c.Configuration.GetType()) : null, Options.Seed),
            keep: Options.KeepCheckpoints);

    /// <inheritdoc />
    public void Dispose()
    {
        Ema?.Dispose();
        _step.Dispose();
    }
}
