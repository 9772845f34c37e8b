using NfNet.Devices;
using NfNet.Training.Augmentation;

namespace NfNet.Training;

/// <summary>What <see cref="Trainer"/> does. Defaults are the recipe measured on Fashion-MNIST (training notes).</summary>
public sealed record TrainerOptions
{
    /// <summary>Epochs; the cosine schedule reaches 0 at the end of the last one.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Examples per optimizer step (the last partial batch of an epoch is dropped). With a
    /// <see cref="Communicator"/> of W ranks this is the global batch: each rank trains on BatchSize / W examples.</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>Split each batch into this many micro-batches whose gradients are accumulated (for memory).</summary>
    public int AccumulationSteps { get; init; } = 1;
    /// <summary>Peak learning rate of SGD with Nesterov momentum 0.9.</summary>
    public double PeakLearningRate { get; init; } = 0.2;
    /// <summary>Linear warm-up length in epochs.</summary>
    public double WarmupEpochs { get; init; } = 0.5;
    /// <summary>Weight decay on conv/linear weights, added after clipping.</summary>
    public double WeightDecay { get; init; } = 5e-5;
    /// <summary>Builds the optimizer for the model (the learning-rate schedule drives every group's rate from its initial
    /// value as the peak). Null (default) is <see cref="TrainerOptimizers.Recipe"/>: the paper's AGC-SGD. Do not return a
    /// SAM optimizer: set <see cref="SamRho"/>, and the trainer wraps the factory's optimizer in SAM and runs SAM's step.</summary>
    public Func<TorchSharp.torch.nn.Module, TrainerOptions, TorchSharp.torch.optim.Optimizer>? OptimizerFactory { get; init; }
    /// <summary>AGC λ of the default optimizer; null disables AGC (plain SGD, for comparisons).</summary>
    public double? ClipFactor { get; init; } = 0.02;
    /// <summary>Clip the zero-initialised <c>skipinit_gain</c> scalars (false for short runs).</summary>
    public bool ClipSkipInitGain { get; init; }

    /// <summary>Layer-wise learning-rate decay (timm's <c>--layer-decay</c>; <see cref="Optim.LayerDecay"/>): the
    /// parameters at depth d of D learn at <c>LayerDecay^(D − 1 − d)</c> of the rate, the head at the full rate; null
    /// (the default) for one rate everywhere. For fine-tuning, 0.65–0.85 is usual.</summary>
    public double? LayerDecay { get; init; }
    /// <summary>SAM's ρ; 0 disables SAM.</summary>
    public double SamRho { get; init; }
    /// <summary>Label smoothing ε.</summary>
    public double LabelSmoothing { get; init; } = 0.1;
    /// <summary>Crop/flip augmentation; null for none.</summary>
    public RandomCropFlip? Augment { get; init; } = new(2);
    /// <summary>MixUp/CutMix; null for none.</summary>
    public MixUpCutMix? Mix { get; init; }
    /// <summary>Compute precision: by default <see cref="PrecisionMode.Auto"/>, the paper's mixed bf16 where the device
    /// computes bf16 natively and float32 elsewhere (<see cref="Trainer.PrecisionChoice"/> says which and why).</summary>
    public PrecisionMode Precision { get; init; } = PrecisionMode.Auto;
    /// <summary>EMA decay; null for no EMA.</summary>
    public double? EmaDecay { get; init; }
    /// <summary>Seed of shuffling, augmentation and stochastic layers.</summary>
    public int Seed { get; init; }
    /// <summary>Write a checkpoint every this many steps (0: only at the end of each epoch when a path is set).</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary>Checkpoint file; null for none.</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>How many checkpoints to keep: the newest at <see cref="CheckpointPath"/> and the older ones beside it as
    /// <c>&lt;name&gt;.step-&lt;N&gt;&lt;ext&gt;</c> (default 1: only the newest). <see cref="Trainer.ResumeNewest"/> falls
    /// back to an older one when the newest is damaged.</summary>
    public int KeepCheckpoints { get; init; } = 1;
    /// <summary>Batch size of evaluation.</summary>
    public int EvalBatchSize { get; init; } = 1000;
    /// <summary>DLB self-distillation weight α (1 in the paper); null (default) for none. With DLB every step also
    /// re-forwards the previous batch (a second augmented view) and adds α·τ²·KL to its previous logits; the loss is
    /// hard-label CE as in the official code, so label smoothing is not applied, and MixUp/CutMix (here or in a
    /// <see cref="Plan"/>) is refused with an exception, as are SAM and gradient accumulation; a resumed run starts
    /// without a previous batch.</summary>
    public double? DlbAlpha { get; init; }
    /// <summary>DLB temperature τ (3 in the paper).</summary>
    public double DlbTemperature { get; init; } = 3.0;
    /// <summary>Data-parallel training across the communicator's ranks (null or a world of one: one process). Each
    /// rank reads its shard of the data, gradients are averaged (float32 buckets) before AGC and the optimizer step,
    /// loss and accuracy are averaged over all ranks, and only rank 0 writes checkpoints. Build the model identically on
    /// every rank (checked at start) and set the same options; <see cref="BatchSize"/> is global and the learning rate
    /// follows it. See <c>NfNet.Distributed.Communicator.FromEnvironment</c>.</summary>
    public NfNet.Distributed.ICommunicator? Communicator { get; init; }
    /// <summary>Progressive-learning hook: the plan for each 0-based epoch (image size and regularization); null for
    /// the same settings every epoch.</summary>
    public Func<int, EpochPlan>? Plan { get; init; }
    /// <summary>Stop after this many optimizer steps in total (for tests and quick runs); null for the full run.</summary>
    public long? MaxSteps { get; init; }
    /// <summary>Tune the C runtime's allocator for tensor workloads when the trainer is created (default false; see
    /// <see cref="NfNet.Platform.NativeAllocator.TuneForTensors"/>: freed tensor memory is reused instead of being unmapped
    /// and faulted in again every step, which made a float32 F0 step at 192 px 1.7× faster on the benchmark machine). The
    /// setting is process-wide and lasts until the process ends: the process keeps its peak memory, which a training
    /// program wants and a service that trains once does not. So it is the application's choice (the demo, the
    /// benchmarks and the studies opt in, and <see cref="NfNet.Platform.PlatformSwitches.TuneNativeAllocator"/> turns it on
    /// by default for a process); a no-op off glibc.</summary>
    public bool TuneNativeAllocator { get; init; } = NfNet.Platform.PlatformSwitches.TuneNativeAllocator.IsOn;
}
