using System.Text;
using System.Text.Json;
using NfNet.IO;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training.Checkpoints;

// Self-describing checkpoints: the model a checkpoint was written from, rebuilt from the registry name and configuration
// record it stores, and its weights loaded without an optimizer.
public static partial class TrainingCheckpoint
{
    /// <summary>The configuration record of the model stored in the checkpoint at <paramref name="path"/> (an
    /// <c>NFNetConfig</c>, a <c>ResNetConfig</c>, a registered record of your own, …), read as its registered type.</summary>
    /// <exception cref="CheckpointFormatException">The file is not a valid checkpoint, stores no configuration, or its
    /// configuration type is not registered (<see cref="ModelRegistry.RegisterConfiguration{TConfig}"/>).</exception>
    public static object ReadConfiguration(string path)
    {
        var info = ReadInfo(path);
        var (type, json) = StoredConfiguration(path, info);
        try { return ModelRegistry.DeserializeConfiguration(type, json); }
        catch (Exception e) when (e is UnknownModelException or JsonException or NotSupportedException)
        {
            throw new CheckpointFormatException(path, "model", $"the configuration of '{info.ModelName}' ({type}) cannot be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// Rebuilds the model a checkpoint was written from (any registered model, or any model whose configuration type is
    /// registered) on <paramref name="device"/>, with fresh weights: <see cref="Load"/> or <see cref="LoadWeights"/> then
    /// restores them.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is not a valid checkpoint, stores no configuration, or its
    /// configuration type is not registered.</exception>
    /// <remarks>A checkpoint is not trusted to describe a model it holds: its configuration is checked against
    /// <see cref="ModelLimits"/>, and the model is first built on the meta device (no memory) and its every tensor shape
    /// compared with the file's own before it is built on any other <paramref name="device"/>. So a crafted configuration (an
    /// input channel count of 16 M, millions of blocks, 2³¹ classes) is refused before any large allocation.</remarks>
    public static ImageClassifier CreateModel(string path, Device? device = null)
    {
        CheckpointInfo info;
        IReadOnlyDictionary<string, long[]>? stored = null;
        using (var file = CheckpointFormat.Open(path))
        {
            if (LegacyCheckpoint.Is(file)) info = LegacyCheckpoint.Info(file, path); // format 1 keeps no shapes: its limits are checked
            else
            {
                var (verified, header) = CheckpointFormat.VerifiedHeader(file, path);
                info = verified;
                stored = header.Entries.Where(e => e.Name.StartsWith(ModelPrefix, StringComparison.Ordinal))
                    .ToDictionary(e => e.Name[ModelPrefix.Length..], e => e.Shape);
            }
        }
        var (type, json) = StoredConfiguration(path, info);
        try
        {
            if (stored is not null && device?.type != DeviceType.META)   // on the meta device nothing is allocated
                using (var shape = ModelRegistry.CreateFromConfiguration(type, json, META))
                    CheckShapes(path, info, shape, stored);
            return ModelRegistry.CreateFromConfiguration(type, json, device);
        }
        catch (Exception e) when (e is UnknownModelException or JsonException or NotSupportedException or ArgumentException)
        {
            throw new CheckpointFormatException(path, "model", $"cannot rebuild '{info.ModelName}' ({type}): {e.Message}", e);
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            throw new CheckpointFormatException(path, "model", $"libtorch could not build '{info.ModelName}' ({type}): {e.Message.Split('\n')[0]}", e);
        }
    }

    // The model the configuration describes must be the one the file holds, tensor for tensor.
    private static void CheckShapes(string path, CheckpointInfo info, nn.Module shape, IReadOnlyDictionary<string, long[]> stored)
    {
        var described = shape.state_dict();
        foreach (var (name, t) in described)
        {
            if (!stored.TryGetValue(name, out var held))
                throw new CheckpointFormatException(path, "model", $"the stored configuration of '{info.ModelName}' describes '{name}', which the file does not hold: " +
                    "the configuration and the weights disagree; nothing was built");
            if (!Shapes.Of(t).SequenceEqual(held))
                throw new CheckpointFormatException(path, "model", $"the stored configuration of '{info.ModelName}' describes '{name}' as " +
                    $"{InvalidInputException.Describe(Shapes.Of(t))}, the file holds {InvalidInputException.Describe(held)}: the configuration and the weights disagree; nothing was built");
        }
        if (stored.Count != described.Count)
            throw new CheckpointFormatException(path, "model", $"the file holds {stored.Count} model tensors, the stored configuration of '{info.ModelName}' describes {described.Count}");
    }

    /// <summary>
    /// <see cref="CreateModel"/> with the checkpoint's weights loaded (<see cref="LoadWeights"/>), in eval mode: the
    /// one call that turns a checkpoint back into a model for validation, prediction or export.
    /// </summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="device">Where to build the model; null for the CPU.</param>
    /// <param name="preferEma">Load the EMA's shadow weights where the checkpoint has them (the weights the paper evaluates).</param>
    /// <exception cref="CheckpointFormatException">The file is not a valid format-2 checkpoint, or cannot rebuild its model.</exception>
    public static ImageClassifier LoadModel(string path, Device? device = null, bool preferEma = false)
    {
        var model = CreateModel(path, device);
        try
        {
            LoadWeights(path, model, preferEma);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads only the model's weights from a checkpoint (verified completely first; names, shapes and dtypes checked
    /// before anything is copied), without an optimizer: for evaluating or fine-tuning from a checkpoint.
    /// </summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="model">A model built as the one that was saved (see <see cref="CreateModel"/>).</param>
    /// <param name="preferEma">Take each weight the EMA averages from its shadow (<c>ema.*</c>) when the checkpoint has one.</param>
    /// <exception cref="CheckpointFormatException">The file is damaged, a format-1 file (load those with <see cref="Load"/>),
    /// or does not fit the model; the model is unchanged.</exception>
    public static CheckpointInfo LoadWeights(string path, nn.Module model, bool preferEma = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var file = CheckpointFormat.Open(path);
        if (LegacyCheckpoint.Is(file))
            throw new CheckpointFormatException(path, "file", "a format 1 checkpoint holds the model in TorchSharp's own format: load it with TrainingCheckpoint.Load");
        var (info, _) = CheckpointFormat.VerifiedHeader(file, path);
        file.Position = 0;
        Dictionary<string, Tensor> tensors;
        try { tensors = SafetensorsReader.Load(file, path); }
        catch (WeightFileException e) { throw new CheckpointFormatException(path, "file", e.Message, e); }
        try
        {
            var state = model.state_dict();
            var chosen = new Dictionary<string, Tensor>();
            foreach (var (name, target) in state)
            {
                var source = preferEma && tensors.TryGetValue(EmaPrefix + name, out var shadow) ? shadow
                    : tensors.TryGetValue(ModelPrefix + name, out var saved) ? saved
                    : throw new CheckpointFormatException(path, "model", $"no tensor for '{name}'");
                Fits(path, "model", name, target, source);
                chosen[name] = source;
            }
            var extra = tensors.Keys.Count(k => k.StartsWith(ModelPrefix, StringComparison.Ordinal)) - state.Count;
            if (extra != 0)
                throw new CheckpointFormatException(path, "model", $"the file has {state.Count + extra} model tensors, the model {state.Count}");
            ModelWeights.Write(model, () =>
            {
                using var _ = no_grad();
                foreach (var (name, target) in state) target.copy_(chosen[name]);
            });
            return info;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    // Checkpoints before self-describing ones stored an NFNet's configuration only, under the module name "NFNet".
    private static (string Type, string Json) StoredConfiguration(string path, CheckpointInfo info)
    {
        if (info.ModelConfig is not { } json)
            throw new CheckpointFormatException(path, "model", $"the checkpoint stores no configuration for '{info.ModelName}' to rebuild it from");
        return (info.ModelConfigType ?? ModelRegistry.ConfigurationTypeName(typeof(NFNetConfig)), json);
    }
}
