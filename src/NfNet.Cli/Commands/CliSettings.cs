using System.ComponentModel;
using Spectre.Console.Cli;

namespace NfNet.Cli.Commands;

/// <summary>Options every command has.</summary>
public class CliSettings : CommandSettings
{
    /// <summary>Print the stack trace of an error, not just its one line.</summary>
    [CommandOption("-v|--verbose")]
    [Description("On an error, print the full exception (stack trace) instead of one line")]
    public bool Verbose { get; init; }
}

/// <summary>Where a command's model comes from: a checkpoint (it rebuilds its model), weights for a registry model, or
/// published weights by name.</summary>
public class ModelSourceSettings : CliSettings
{
    /// <summary>A registry name.</summary>
    [CommandOption("-m|--model <NAME>")]
    [Description("Registry name (dm_nfnet_f0 … dm_nfnet_f7, dm_nf_resnet50, resnet50, resnetv2_50, efficientnetv2_s, efficientnetv2_b0, coatnet_0); with --weights or --pretrained")]
    public string? Model { get; init; }

    /// <summary>An NfNet.NET checkpoint.</summary>
    [CommandOption("-c|--checkpoint <FILE>")]
    [Description("An NfNet.NET training checkpoint: the model is rebuilt from it (no --model needed)")]
    public string? Checkpoint { get; init; }

    /// <summary>Safetensors weights.</summary>
    [CommandOption("-w|--weights <FILE>")]
    [Description("Safetensors weights for --model (timm's model.safetensors, or one written by NfNet.NET)")]
    public string? Weights { get; init; }

    /// <summary>Published weights by name.</summary>
    [CommandOption("-p|--pretrained [ID]")]
    [Description("Published weights through the Hugging Face cache: --pretrained alone takes --model's default (timm/dm_nfnet_f0.dm_in1k), or give hf-hub:ORG/NAME[[@REVISION]]")]
    public FlagValue<string>? Pretrained { get; init; }

    /// <summary>Use the checkpoint's EMA weights.</summary>
    [CommandOption("--ema")]
    [Description("With --checkpoint: the EMA's averaged weights where the checkpoint has them")]
    public bool Ema { get; init; }

    /// <summary>Classes of the model built with --model (default: the weights').</summary>
    [CommandOption("--num-classes <N>")]
    [Description("Classes of the model built for --weights (default 1000)")]
    public int? NumClasses { get; init; }
}
