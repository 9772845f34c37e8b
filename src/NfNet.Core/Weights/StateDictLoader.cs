using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// Copies named tensors into a module's parameters and buffers (<c>state_dict()</c> names, timm's for NFNets),
/// converting dtype and device on the way. Strict loading checks everything first and changes nothing on a mismatch.
/// </summary>
public static class StateDictLoader
{
    /// <summary>
    /// Loads <paramref name="weights"/> into <paramref name="module"/>.
    /// </summary>
    /// <param name="module">The target model.</param>
    /// <param name="weights">Tensors by name (any dtype convertible to the model's; any device).</param>
    /// <param name="strict">
    /// True (default): every model tensor must be provided with its exact shape and no extra names may appear,
    /// otherwise <see cref="StateDictMismatchException"/> is thrown before anything is copied. False: copy what
    /// matches by name and shape (e.g. a backbone whose classifier has another <c>num_classes</c>) and report the rest.
    /// </param>
    /// <returns>What was loaded, missing, unexpected and mismatched.</returns>
    public static LoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> weights, bool strict = true)
    {
        var report = Compare(module, weights);
        if (strict && !report.IsExact) throw new StateDictMismatchException(report.Missing, report.Unexpected, report.ShapeMismatched);

        ModelWeights.Write(module, () =>
        {
            using var _ = no_grad();
            var target = module.state_dict();
            foreach (var name in report.Loaded) target[name].copy_(weights[name]);
        });
        return report;
    }

    /// <summary>What <see cref="Load(nn.Module, IReadOnlyDictionary{string, Tensor}, bool)"/> would load, without
    /// changing anything: the names that fit, the model's names the weights lack, the weights' names the model lacks,
    /// and the names whose shape or dtype differ (as <c>name: model [..] vs weights [..]</c>).</summary>
    public static LoadReport Compare(nn.Module module, IReadOnlyDictionary<string, Tensor> weights)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(weights);
        var target = module.state_dict();
        var loaded = new List<string>();
        var missing = new List<string>();
        var mismatched = new List<string>();
        foreach (var (name, dst) in target)
        {
            if (!weights.TryGetValue(name, out var src)) { missing.Add(name); continue; }
            if (!Shapes.Same(src, dst))
            {
                mismatched.Add($"{name}: model {InvalidInputException.Describe(Shapes.Of(dst))} vs weights {InvalidInputException.Describe(Shapes.Of(src))}");
                continue;
            }
            if (!IsConvertible(src.dtype, dst.dtype))
            {
                mismatched.Add($"{name}: model {dst.dtype} vs weights {src.dtype} (not convertible)");
                continue;
            }
            loaded.Add(name);
        }
        var unexpected = weights.Keys.Where(k => !target.ContainsKey(k)).ToList();
        return new LoadReport(loaded, missing, unexpected, mismatched);
    }

    /// <summary>Reads a safetensors file and loads it into <paramref name="module"/> (see <see cref="Load(nn.Module, IReadOnlyDictionary{string, Tensor}, bool)"/>).</summary>
    /// <exception cref="WeightFileException">The file is corrupt; the model is untouched.</exception>
    /// <exception cref="StateDictMismatchException">Strict loading and the names or shapes differ; the model is untouched.</exception>
    public static LoadReport LoadSafetensors(this nn.Module module, string path, bool strict = true)
    {
        var weights = SafetensorsReader.Load(path);
        try { return Load(module, weights, strict); }
        finally { foreach (var t in weights.Values) t.Dispose(); }
    }

    private static bool IsConvertible(ScalarType from, ScalarType to) =>
        IsFloating(to) ? IsFloating(from) || IsInteger(from) : from == to;

    private static bool IsFloating(ScalarType t) =>
        t is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    private static bool IsInteger(ScalarType t) =>
        t is ScalarType.Byte or ScalarType.Int8 or ScalarType.Int16 or ScalarType.Int32 or ScalarType.Int64;
}
