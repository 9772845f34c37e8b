using System.Reflection;
using System.Runtime.InteropServices;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// The one door to TorchSharp's non-public surface. Everything NfNet.NET needs that TorchSharp 0.107 does not expose
/// publicly is reached here and only here, so a TorchSharp upgrade breaks in one file, and
/// <see cref="CheckShape"/> (run by a test) names the member that moved.
/// </summary>
/// <remarks>
/// Written against TorchSharp 0.107.0 (libtorch 2.10). Members used:
/// <list type="bullet">
/// <item><c>LibTorchSharp!THSTensor_data</c>: a CPU tensor's data pointer, for the fused AGC-SGD step (TorchSharp's
/// public <c>data&lt;T&gt;()</c> has no bf16 element type and copies through an accessor).</item>
/// <item><c>Module._internal_submodules</c>: replacing a registered child in place (a classifier reset) keeps the
/// state-dict order; <c>register_module</c> refuses a name twice.</item>
/// <item><c>OptimizerHelper._defaults</c> and each options class's public <c>weight_decay</c> field: the coupled
/// weight decay an optimizer was built with (the options base class has no such member).</item>
/// <item><c>SGD.state_dict().State</c>: per-parameter SGD state in the order of the groups' parameters (the state
/// dictionary is keyed by position, not by tensor).</item>
/// </list>
/// </remarks>
internal static class TorchSharpInternals
{
    private const string LibTorchSharp = "LibTorchSharp";
    private const string SubmodulesField = "_internal_submodules";
    private const string DefaultsField = "_defaults";
    private const string WeightDecayField = "weight_decay";

    [DllImport(LibTorchSharp, EntryPoint = "THSTensor_data")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    private static readonly FieldInfo? Submodules =
        typeof(nn.Module).GetField(SubmodulesField, BindingFlags.Instance | BindingFlags.NonPublic);

    private static readonly FieldInfo? Defaults =
        typeof(OptimizerHelper).GetField(DefaultsField, BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>The address of <paramref name="tensor"/>'s first element (CPU tensors; valid while it lives).</summary>
    public static IntPtr DataPointer(Tensor tensor) => THSTensor_data(tensor.Handle);

    /// <summary>Replaces (or adds) <paramref name="owner"/>'s child <paramref name="name"/>, keeping its place in
    /// the state dict.</summary>
    /// <exception cref="TorchSharpShapeException">TorchSharp no longer has the field this relies on.</exception>
    public static void ReplaceSubmodule(nn.Module owner, string name, nn.Module replacement)
    {
        var value = Submodules?.GetValue(owner) as IDictionary<string, nn.Module>
            ?? throw new TorchSharpShapeException($"{nameof(nn.Module)}.{SubmodulesField}");
        value[name] = replacement;
    }

    /// <summary>The coupled weight decay of an optimizer's defaults, or 0 (none, or not a TorchSharp optimizer).</summary>
    public static double DefaultWeightDecay(optim.Optimizer optimizer) =>
        optimizer is OptimizerHelper && Defaults?.GetValue(optimizer) is OptimizerOptions options ? WeightDecay(options) : 0;

    /// <summary>The public <c>weight_decay</c> of an options object (SGD, Adam, …), or 0 when it has none.</summary>
    public static double WeightDecay(OptimizerOptions? options) =>
        options?.GetType().GetField(WeightDecayField, BindingFlags.Instance | BindingFlags.Public)?.GetValue(options) is double v ? v : 0;

    /// <summary>SGD's per-parameter states, in the order of its groups' parameters.</summary>
    public static IReadOnlyList<SGD.State?> SgdStates(SGD sgd) =>
        sgd.state_dict().State.Select(s => s as SGD.State).ToArray();

    /// <summary>
    /// Checks that every member above still exists with the expected shape; returns the missing ones (empty when all
    /// are there). A test fails loudly with these names after a TorchSharp upgrade.
    /// </summary>
    public static IReadOnlyList<string> CheckShape()
    {
        var missing = new List<string>();
        if (Submodules is null || !typeof(IDictionary<string, nn.Module>).IsAssignableFrom(Submodules.FieldType))
            missing.Add($"{nameof(nn.Module)}.{SubmodulesField} (IDictionary<string, Module>)");
        if (Defaults is null || !typeof(OptimizerOptions).IsAssignableFrom(Defaults.FieldType))
            missing.Add($"{nameof(OptimizerHelper)}.{DefaultsField} (OptimizerOptions)");
        if (typeof(SGD.Options).GetField(WeightDecayField, BindingFlags.Instance | BindingFlags.Public) is null)
            missing.Add($"SGD.Options.{WeightDecayField}");
        try
        {
            using var probe = Scalars.Arange(3, ScalarType.Float32);
            if (DataPointer(probe) == IntPtr.Zero) missing.Add("LibTorchSharp!THSTensor_data (returned null)");
        }
        catch (EntryPointNotFoundException)
        {
            missing.Add("LibTorchSharp!THSTensor_data");
        }
        return missing;
    }
}
