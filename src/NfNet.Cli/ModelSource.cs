using NfNet.Cli.Commands;
using NfNet.Hub;
using NfNet.Models;
using NfNet.Training.Checkpoints;
using NfNet.Weights;

namespace NfNet.Cli;

/// <summary>Builds the model a command works on from <see cref="ModelSourceSettings"/>, in eval mode.</summary>
internal static class ModelSource
{
    public static ImageClassifier Load(ModelSourceSettings s, Action<string>? say = null)
    {
        var sources = new[] { s.Checkpoint is not null, s.Weights is not null, s.Pretrained is { IsSet: true } }.Count(b => b);
        if (sources > 1) throw new CliException("give one of --checkpoint, --weights and --pretrained");
        if (s.Checkpoint is { } checkpoint)
        {
            if (s.Model is not null) throw new CliException("--model does not apply with --checkpoint: the checkpoint rebuilds its own model");
            if (s.NumClasses is not null) throw new CliException("--num-classes does not apply with --checkpoint");
            Exists(checkpoint, "--checkpoint");
            var model = TrainingCheckpoint.LoadModel(checkpoint, preferEma: s.Ema);
            say?.Invoke($"{model.ModelName} from {checkpoint}{(s.Ema ? " (EMA weights)" : "")}");
            return model;
        }
        if (s.Ema) throw new CliException("--ema applies to --checkpoint only");
        if (s.Pretrained is { IsSet: true } pretrained)
        {
            var id = pretrained.Value is { Length: > 0 } v ? v : null;
            if (id is null && s.Model is null) throw new CliException("--pretrained needs --model, or a Hub id (--pretrained hf-hub:timm/dm_nfnet_f0.dm_in1k)");
            var repository = HubWeights.RepositoryOf(id ?? s.Model!);
            var name = s.Model ?? RegistryNameOf(repository);
            var path = HubWeights.Resolve(repository.ToString(), progress: new DownloadProgress());
            var model = ModelRegistry.Create(name, numClasses: s.NumClasses);
            Load(model, path, s.NumClasses);
            say?.Invoke($"{name} with the published weights of {repository} ({path})");
            return model;
        }
        if (s.Weights is { } weights)
        {
            if (s.Model is null) throw new CliException("--weights needs --model NAME (the architecture the weights are for)");
            Exists(weights, "--weights");
            var model = ModelRegistry.Create(s.Model, numClasses: s.NumClasses);
            Load(model, weights, s.NumClasses);
            say?.Invoke($"{s.Model} with {weights}");
            return model;
        }
        throw new CliException("say which model: --checkpoint FILE, --model NAME --weights FILE, or --model NAME --pretrained");
    }

    private static void Load(ImageClassifier model, string path, int? numClasses)
    {
        if (numClasses is null) model.LoadSafetensors(path);
        else NfNet.Training.PretrainedWeights.LoadBackbone(model, path); // the classifier is reset for the new class count
        model.eval();
    }

    // timm's Hub ids are the registry name and a tag: timm/dm_nfnet_f0.dm_in1k → dm_nfnet_f0.
    private static string RegistryNameOf(HubRepository repository)
    {
        var name = repository.Id.Split('/')[1].Split('.')[0];
        return ModelRegistry.Contains(name) ? name
            : throw new CliException($"cannot tell which model {repository} is for: add --model NAME");
    }

    public static void Exists(string path, string option)
    {
        if (!File.Exists(path)) throw new CliException($"{option}: no file at '{path}'");
    }
}
