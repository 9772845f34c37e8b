using System.Text.RegularExpressions;
using NfNet.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// Imports DeepMind's released Haiku NFNet parameters (<c>F0_haiku.npz</c> …, a zip of <c>.npy</c> arrays) into an
/// <see cref="NFNet"/>: the Haiku module names are mapped to ours (= timm's) and the layouts converted (spec §14):
/// <list type="bullet">
/// <item><c>NFNet/~/stem_conv{0..3}</c> → <c>stem.conv{1..4}</c>; <c>nf_block</c>, <c>nf_block_1</c>, … (numbered
/// globally) → <c>stages.s.b</c>; inside a block <c>conv0/conv1/conv1b/conv2</c> → <c>conv1/conv2/conv2b/conv3</c>,
/// <c>conv_shortcut</c> → <c>downsample.conv</c>, <c>squeeze_excite/~/linear(_1)</c> → <c>attn_last.fc1(2)</c>,
/// <c>skip_gain</c> → <c>skipinit_gain</c>; <c>final_conv</c>; <c>linear</c> → <c>head.fc</c>.</item>
/// <item>Leaves <c>w</c>/<c>b</c>/<c>gain</c>/<c>bias</c> → <c>weight</c>/<c>bias</c>/<c>gain</c>/<c>bias</c>.</item>
/// <item>Conv kernels HWIO → OIHW; gains (O) → (O,1,1,1); Linear (I,O) → (O,I); SE linears (I,O) → (O,I,1,1);
/// <c>skip_gain</c> → a 0-dim scalar.</item>
/// </list>
/// Module and parameter may be separated by <c>/</c> or <c>.</c>, and the <c>NFNet/~/</c> prefix is optional. The Haiku
/// names are inferred from Haiku's naming rules (spec §16): check one released file before relying on it. DeepMind's
/// models use tanh-GELU and their own WS epsilon: build the model with <see cref="Layers.ActivationKind.GeluTanh"/> and
/// <see cref="Layers.WeightStandardization.DeepMind"/> to reproduce their outputs.
/// </summary>
public static partial class HaikuCheckpoint
{
    /// <summary>Maps Haiku-named arrays to NfNet/timm names and layouts for <paramref name="config"/>'s block layout.</summary>
    /// <exception cref="WeightFileException">A name cannot be mapped (the message names it).</exception>
    public static Dictionary<string, Tensor> ToTimmNames(IReadOnlyDictionary<string, Tensor> haiku, NFNetConfig config, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(haiku);
        ArgumentNullException.ThrowIfNull(config);
        var specs = NFBlockSpec.Schedule(config);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (key, value) in haiku)
            {
                var (module, leaf) = Split(key, sourceName);
                var (name, kind) = MapModule(module, specs, key, sourceName);
                var target = kind == ModuleKind.Block ? $"{name}.skipinit_gain" : $"{name}.{MapLeaf(leaf, key, sourceName)}";
                if (kind == ModuleKind.Block && leaf != "skip_gain")
                    throw new WeightFileException($"unknown block parameter '{leaf}' in '{key}'", sourceName);
                if (!result.TryAdd(target, Convert(value, kind, leaf)))
                    throw new WeightFileException($"two Haiku arrays map to '{target}' (second: '{key}')", sourceName);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Reads a Haiku <c>.npz</c> and loads it into <paramref name="model"/> (strict by default; see
    /// <see cref="StateDictLoader.Load"/>).</summary>
    public static LoadReport LoadHaikuNpz(this NFNet model, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        var raw = NpyReader.LoadNpz(path);
        try
        {
            var mapped = ToTimmNames(raw, model.Config, path);
            try { return StateDictLoader.Load(model, mapped, strict); }
            finally { foreach (var t in mapped.Values) t.Dispose(); }
        }
        finally
        {
            foreach (var t in raw.Values) t.Dispose();
        }
    }

    private enum ModuleKind { Conv, Linear, SeLinear, Block }

    private static (string Module, string Leaf) Split(string key, string? source)
    {
        var k = key.StartsWith("NFNet/~/", StringComparison.Ordinal) ? key["NFNet/~/".Length..] : key;
        var cut = Math.Max(k.LastIndexOf('/'), k.LastIndexOf('.'));
        if (cut <= 0 || cut == k.Length - 1) throw new WeightFileException($"'{key}' is not a Haiku 'module/param' name", source);
        return (k[..cut].Replace("/~/", "/"), k[(cut + 1)..]);
    }

    private static (string Name, ModuleKind Kind) MapModule(string module, IReadOnlyList<NFBlockSpec> specs, string key, string? source)
    {
        var stem = StemPattern().Match(module);
        if (stem.Success) return ($"stem.conv{int.Parse(stem.Groups[1].Value) + 1}", ModuleKind.Conv);
        if (module == "final_conv") return ("final_conv", ModuleKind.Conv);
        if (module == "linear") return ("head.fc", ModuleKind.Linear);
        var block = BlockPattern().Match(module);
        if (!block.Success) throw new WeightFileException($"unknown Haiku module '{module}' in '{key}'", source);
        var index = block.Groups[1].Success ? int.Parse(block.Groups[1].Value) : 0;
        if (index >= specs.Count)
            throw new WeightFileException($"'{key}' is block {index}, but the model has {specs.Count} blocks (wrong variant?)", source);
        var spec = specs[index];
        var prefix = $"stages.{spec.Stage}.{spec.Index}";
        var inner = block.Groups[2].Success ? block.Groups[2].Value : "";
        return inner switch
        {
            "" => (prefix, ModuleKind.Block),
            "conv0" => ($"{prefix}.conv1", ModuleKind.Conv),
            "conv1" => ($"{prefix}.conv2", ModuleKind.Conv),
            "conv1b" => ($"{prefix}.conv2b", ModuleKind.Conv),
            "conv2" => ($"{prefix}.conv3", ModuleKind.Conv),
            "conv_shortcut" => ($"{prefix}.downsample.conv", ModuleKind.Conv),
            "squeeze_excite/linear" => ($"{prefix}.attn_last.fc1", ModuleKind.SeLinear),
            "squeeze_excite/linear_1" => ($"{prefix}.attn_last.fc2", ModuleKind.SeLinear),
            _ => throw new WeightFileException($"unknown module '{inner}' inside block {index} in '{key}'", source),
        };
    }

    private static string MapLeaf(string leaf, string key, string? source) => leaf switch
    {
        "w" => "weight",
        "b" or "bias" => "bias",
        "gain" => "gain",
        _ => throw new WeightFileException($"unknown Haiku parameter '{leaf}' in '{key}'", source),
    };

    private static Tensor Convert(Tensor value, ModuleKind kind, string leaf)
    {
        // The views between the file's array and the result are held by this scope while libtorch reads them.
        using var scope = NewDisposeScope();
        return ConvertInScope(value, kind, leaf).MoveToOuterDisposeScope();
    }

    private static Tensor ConvertInScope(Tensor value, ModuleKind kind, string leaf)
    {
        if (kind == ModuleKind.Block) return value.reshape(Array.Empty<long>()).clone();
        if (leaf == "w")
        {
            return kind switch
            {
                ModuleKind.Conv => value.permute(3, 2, 0, 1).contiguous(),                   // HWIO → OIHW
                ModuleKind.Linear => value.t().contiguous(),                                 // (I,O) → (O,I)
                _ => value.t().contiguous().reshape(value.size(1), value.size(0), 1, 1),   // SE: (I,O) → (O,I,1,1)
            };
        }
        if (leaf == "gain") return value.reshape(-1, 1, 1, 1).clone();                       // (O) → (O,1,1,1)
        return value.reshape(-1).clone();
    }

    [GeneratedRegex(@"^stem_conv(\d+)$")]
    private static partial Regex StemPattern();
    [GeneratedRegex(@"^nf_block(?:_(\d+))?(?:/(.+))?$")]
    private static partial Regex BlockPattern();
}
