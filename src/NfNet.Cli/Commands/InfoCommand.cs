using System.ComponentModel;
using NfNet.Models;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace NfNet.Cli.Commands;

/// <summary><c>nfnet models</c>'s options.</summary>
public sealed class ModelsSettings : CliSettings
{
    [CommandOption("--resolution <PX>")]
    [Description("Count MACs at this size (default: each model's test size)")]
    public int? Resolution { get; init; }
}

/// <summary><c>nfnet models</c>: the registry, with parameter counts, MACs and published weights (counted on the meta
/// device: nothing is allocated).</summary>
public sealed class ModelsCommand : Command<ModelsSettings>
{
    public override int Execute(CommandContext context, ModelsSettings s, CancellationToken cancellationToken)
    {
        var table = new Table().AddColumns("name", "parameters", "MACs", "at px", "train / test px", "published weights");
        foreach (var name in ModelRegistry.Names)
        {
            using var model = ModelRegistry.Create(name, device: META);
            var data = model.PretrainedConfig;
            var px = s.Resolution ?? data.TestInputSize;
            table.AddRow(name, $"{model.ParameterCount():N0}", $"{model.CountMacs(px, px) / 1e9:F2} G", px.ToString(), $"{data.InputSize} / {data.TestInputSize}",
                Markup.Escape(data.HubId ?? "-"));
        }
        AnsiConsole.Write(table);
        return 0;
    }
}

/// <summary><c>nfnet info</c>'s options.</summary>
public sealed class InfoSettings : CliSettings
{
    [CommandArgument(0, "[MODEL]")]
    [Description("A registry name, or an NfNet.NET checkpoint file")]
    public string? Model { get; init; }

    [CommandOption("--resolution <PX>")]
    [Description("Count MACs at this size (default: the model's test size)")]
    public int? Resolution { get; init; }
}

/// <summary><c>nfnet info</c>: one model's summary (a registry name or a checkpoint), or the registry without one.</summary>
public sealed class InfoCommand : Command<InfoSettings>
{
    public override int Execute(CommandContext context, InfoSettings s, CancellationToken cancellationToken)
    {
        if (s.Model is null) return new ModelsCommand().Execute(context, new ModelsSettings { Resolution = s.Resolution }, cancellationToken);
        ImageClassifier model;
        if (File.Exists(s.Model))
        {
            var info = NfNet.Training.Checkpoints.TrainingCheckpoint.ReadInfo(s.Model);
            Console.WriteLine($"checkpoint {s.Model}: epoch {info.Epoch}, step {info.Step}, EMA updates {info.EmaUpdates}, seed {info.Seed}, {info.WorldSize} rank(s)");
            model = NfNet.Training.Checkpoints.TrainingCheckpoint.CreateModel(s.Model, META);
        }
        else if (ModelRegistry.Contains(s.Model)) model = ModelRegistry.Create(s.Model, device: META);
        else throw new CliException($"'{s.Model}' is neither a registered model nor a checkpoint file; registered: {string.Join(", ", ModelRegistry.Names)}");
        using (model)
        {
            var data = model.PretrainedConfig;
            var px = s.Resolution ?? data.TestInputSize;
            Console.WriteLine(model.Summary(px));
            Console.WriteLine($"  data         {data.InputSize} px training, {data.TestInputSize} px test, {data.Interpolation}, crop {data.CropPercent} ({data.CropMode}), " +
                              $"mean [{string.Join(", ", data.Mean)}], std [{string.Join(", ", data.Std)}]" + (data.RandAugment is { } ra ? $", RandAugment {ra}" : ""));
            Console.WriteLine($"  weights      {data.HubId ?? "none published"}");
            Console.WriteLine($"  config       {ModelRegistry.SerializeConfiguration(model)}");
        }
        return 0;
    }
}
