using System.Diagnostics;
using NfNet.Devices;
using NfNet.Distributed;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
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
    private readonly DataParallelContext _parallel;

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
        TrainerOptionChecks.Check(options, classes, options.Communicator?.WorldSize ?? 1);
        if (options.TuneNativeAllocator) NativeAllocator.TuneForTensors();
        _parallel = new DataParallelContext(model, options.Communicator);
        _model = model;
        _classes = classes;
        PrecisionChoice = Devices.Precision.Choose(options.Precision, model.parameters().FirstOrDefault()?.device);
        Options = options = options with { Precision = PrecisionChoice.Mode };
        var optimizer = (options.OptimizerFactory ?? TrainerOptimizers.Recipe)(model, options)
            ?? throw new ArgumentException("TrainerOptions.OptimizerFactory returned null", nameof(options));
        Optimizer = options.SamRho > 0 ? new SharpnessAwareMinimization(optimizer, options.SamRho) : optimizer;
        if (options.EmaDecay is { } decay) Ema = new ExponentialMovingAverage(model, decay);
        _step = TrainingSteps.For(new StepContext(model, Optimizer, options, classes)
        {
            SynchronizeGradients = _parallel.Averager is null ? null : _parallel.Averager.Average,
            GradientScale = 1.0 / _parallel.WorldSize,
        });
    }

    /// <summary>The precision the trainer computes in and why (<see cref="PrecisionMode.Auto"/> settled for the model's
    /// device); <see cref="Options"/> holds the settled mode.</summary>
    public PrecisionChoice PrecisionChoice { get; }

    /// <summary>The options, with <see cref="TrainerOptions.Precision"/> settled (never <see cref="PrecisionMode.Auto"/>).</summary>
    public TrainerOptions Options { get; }
    /// <summary>The optimizer stack (SAM → the factory's optimizer, by default AGC → SGD).</summary>
    public optim.Optimizer Optimizer { get; }
    /// <summary>The EMA of the weights, when enabled.</summary>
    public ExponentialMovingAverage? Ema { get; }
    /// <summary>Optimizer steps taken so far.</summary>
    public long Step { get; private set; }
    /// <summary>Per-epoch metrics so far.</summary>
    public IReadOnlyList<EpochMetrics> History => _history;
    /// <summary>This process's rank (0 in one process).</summary>
    public int Rank => _parallel.Rank;
    /// <summary>Ranks training together (1 in one process).</summary>
    public int WorldSize => _parallel.WorldSize;
    /// <summary>Examples each rank trains on per step: <see cref="TrainerOptions.BatchSize"/> / <see cref="WorldSize"/>.</summary>
    public int BatchPerRank => Options.BatchSize / _parallel.WorldSize;
    /// <summary>Time spent averaging gradients across ranks in the last step (zero in one process).</summary>
    public TimeSpan LastGradientSyncTime => _parallel.Averager?.LastDuration ?? TimeSpan.Zero;
    /// <summary>Called after every step.</summary>
    public event Action<StepProgress>? StepCompleted;
    /// <summary>Called after every epoch.</summary>
    public event Action<EpochMetrics>? EpochCompleted;

    /// <summary>Restores model, optimizer, EMA and counters from <paramref name="path"/> (call before <see cref="Fit"/>).</summary>
    /// <exception cref="CheckpointFormatException">The checkpoint is damaged or does not fit; nothing was changed.</exception>
    public CheckpointInfo Resume(string path)
    {
        var info = TrainingCheckpoint.Load(path, _model, Optimizer, Ema);
        if (info.WorldSize != WorldSize)
            throw new RankMismatchException($"{path} was written by a run of {info.WorldSize} rank(s); resume it with {info.WorldSize} " +
                $"(mpirun -np {info.WorldSize}), not {WorldSize}: the order of the data within an epoch depends on the number of ranks");
        _parallel.Agree(info.Step, $"checkpoint step ({path})", $"step {info.Step}");
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
        train = _parallel.Shard(train, pad: true, nameof(train));
        if (test is not null) test = _parallel.Shard(test, pad: false, nameof(test));
        _stepsPerEpoch = train.Count / BatchPerRank;
        if (_stepsPerEpoch == 0) throw new ArgumentException($"the training set ({train.Count}{(WorldSize > 1 ? " per rank" : "")}) is smaller than one batch ({BatchPerRank})", nameof(train));
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
            var skippedBefore = train.SkippedSamples;
            long Skipped() => train.SkippedSamples - skippedBefore;
            foreach (var (images, labels) in train.Batches(BatchPerRank, shuffle: true, seed: DeterministicSeed.Combine(o.Seed, epoch), dropLast: true))
            {
                using var ownedImages = images;
                using var ownedLabels = labels;
                using var scope = NewDisposeScope();
                if (indexInEpoch++ < skip) continue;
                if (o.MaxSteps is { } m && Step >= m) break;
                var (loss, acc) = TrainStep(images, labels, device);
                // Every rank reports the global batch's numbers.
                (loss, acc, var count) = _parallel.GlobalBatch(loss, acc, labels.size(0));
                lossSum += loss * count;
                correct += acc * count;
                seen += count;
                var lr = Optimizer.ParamGroups.Max(g => g.LearningRate);
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
                Optimizer.ParamGroups.Max(g => g.LearningRate), result, emaResult, seconds, seen / seconds, Skipped(), Devices.Precision.Name(o.Precision));
            _history.Add(metrics);
            EpochCompleted?.Invoke(metrics);
            if (o.CheckpointPath is { } path) SaveCheckpoint(path, epoch + 1);
        }
        return _history;
    }

    private (double Loss, double Accuracy) TrainStep(Tensor images, Tensor labels, Device device)
    {
        // Per-rank draws (augmentation, dropout) in a data-parallel run; rank 0's are those of a single process.
        manual_seed(DeterministicSeed.Combine(Options.Seed, Step, 17 + Rank));
        var random = new Random(DeterministicSeed.Combine(Options.Seed, Step, Rank));
        var result = _step.Run(new StepBatch(images, images.to(device), labels.to(device), random, _plan, Step));
        Ema?.Update(_model);
        return result;
    }

    /// <summary>Top-1/top-5 accuracy and mean cross-entropy on <paramref name="data"/> (eval mode, no gradients). In a
    /// data-parallel run every rank evaluates all of <paramref name="data"/> (<see cref="Fit"/> splits its test set
    /// across the ranks instead and adds up their results).</summary>
    public EvaluationResult Evaluate(IDataSource data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (top1, top5, loss, count) = ModelEvaluation.Sums(_model, data, Options.EvalBatchSize, Options.Precision);
        (top1, top5, loss, count) = _parallel.GlobalEvaluation(data, top1, top5, loss, count); // each rank read its part
        return new EvaluationResult(top1 / count, top5 / count, loss / count, count);
    }

    /// <summary>Writes a checkpoint now (rank 0 only in a data-parallel run: the ranks' weights are identical).</summary>
    public void SaveCheckpoint(string path, int epoch)
    {
        if (Rank != 0) return;
        TrainingCheckpoint.Save(path, _model, Optimizer, Ema, CheckpointInfo.For(_model, epoch, Step, Ema?.UpdateCount ?? 0, Options.Seed, WorldSize) with { Precision = Devices.Precision.Name(Options.Precision) },
            keep: Options.KeepCheckpoints);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _parallel.Dispose();
        Ema?.Dispose();
        _step.Dispose();
    }
}
