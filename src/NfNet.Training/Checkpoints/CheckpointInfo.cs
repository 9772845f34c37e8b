using NfNet.Devices;
using static TorchSharp.torch;

namespace NfNet.Training.Checkpoints;

/// <summary>Counters and configuration stored with a checkpoint.</summary>
/// <param name="Epoch">Completed epochs.</param>
/// <param name="Step">Optimizer steps taken (the scheduler's position).</param>
/// <param name="EmaUpdates">EMA updates made.</param>
/// <param name="ModelName">The model's registry name (<see cref="NfNet.Models.ImageClassifier.ModelName"/>).</param>
/// <param name="ModelConfig">The model's configuration record as JSON (rebuild the model with
/// <see cref="TrainingCheckpoint.CreateModel"/>), or null for a module that is not an <c>ImageClassifier</c>.</param>
/// <param name="Seed">The run's seed: with <see cref="Step"/> it determines all later randomness.</param>
/// <param name="WorldSize">Ranks of the data-parallel run that wrote it (1: one process). A run resumes with the same
/// number: the data order within an epoch depends on it.</param>
/// <param name="ModelConfigType">The configuration record's type (<see cref="NfNet.Models.ModelRegistry.ConfigurationTypeName"/>);
/// null in checkpoints written before it was stored, which hold NFNet configurations only.</param>
/// <param name="Precision">The precision the run computed in (<c>fp32</c>, <c>mixed</c>, <c>bf16</c>; <see cref="PrecisionMode.Auto"/>
/// settled for the machine that wrote it), or null in checkpoints written before it was stored.</param>
public sealed record CheckpointInfo(int Epoch, long Step, long EmaUpdates, string ModelName, string? ModelConfig = null, int Seed = 0, int WorldSize = 1,
    string? ModelConfigType = null, string? Precision = null)
{
    /// <summary>The counters of <paramref name="model"/> with its registry name and its configuration record, so that
    /// the checkpoint can rebuild it (<see cref="TrainingCheckpoint.CreateModel"/>).</summary>
    public static CheckpointInfo For(nn.Module model, int epoch, long step, long emaUpdates, int seed = 0, int worldSize = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model is NfNet.Models.ImageClassifier classifier
            ? new CheckpointInfo(epoch, step, emaUpdates, classifier.ModelName, NfNet.Models.ModelRegistry.SerializeConfiguration(classifier), seed, worldSize,
                NfNet.Models.ModelRegistry.ConfigurationTypeName(classifier.Configuration.GetType()))
            : new CheckpointInfo(epoch, step, emaUpdates, model.GetName(), null, seed, worldSize);
    }
}
