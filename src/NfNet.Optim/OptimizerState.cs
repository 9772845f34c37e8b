using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>
/// Saves and restores an optimizer's state (momentum buffers, Adam moments, per-group learning rates) through any stack
/// of decorators, including the decorators' own counters. The parameters of the restored optimizer must be the same
/// tensors in the same order as when saved (build the model and optimizer the same way, then load).
/// </summary>
public static class OptimizerState
{
    private const string Magic = "NfNet.OptimizerState/1";

    /// <summary>Writes the state of <paramref name="optimizer"/>.</summary>
    /// <exception cref="NotSupportedException">The innermost optimizer is not one of TorchSharp's managed optimizers.</exception>
    public static void Save(optim.Optimizer optimizer, BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(Magic);
        var current = optimizer;
        while (current is IOptimizerDecorator decorator)
        {
            writer.Write(current.GetType().Name);
            decorator.SaveDecoratorState(writer);
            current = decorator.Inner;
        }
        writer.Write(current.GetType().Name);
        Innermost(current).save_state_dict(writer);
    }

    /// <summary>The decorator stack of <paramref name="optimizer"/>, outermost first
    /// (<c>SharpnessAwareMinimization &gt; AdaptiveGradientClipping &gt; SGD</c>), as <see cref="Save"/> records it.</summary>
    public static string Describe(optim.Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var names = new List<string>();
        for (var current = optimizer; ; current = ((IOptimizerDecorator)current).Inner)
        {
            names.Add(current.GetType().Name);
            if (current is not IOptimizerDecorator) break;
        }
        return string.Join(" > ", names);
    }

    /// <summary>Restores what <see cref="Save"/> wrote into an optimizer built the same way.</summary>
    /// <exception cref="InvalidDataException">The data is not an optimizer state or was saved from a different stack.</exception>
    public static void Load(optim.Optimizer optimizer, BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(reader);
        string magic;
        try { magic = reader.ReadString(); }
        catch (Exception e) when (e is EndOfStreamException or IOException) { throw new InvalidDataException("optimizer state is empty or truncated", e); }
        if (magic != Magic) throw new InvalidDataException($"not an NfNet optimizer state (header '{Truncate(magic)}')");
        var current = optimizer;
        while (true)
        {
            var saved = reader.ReadString();
            if (saved != current.GetType().Name)
                throw new InvalidDataException($"optimizer state was saved from a {saved} where this optimizer has a {current.GetType().Name}");
            if (current is not IOptimizerDecorator decorator) break;
            decorator.LoadDecoratorState(reader);
            current = decorator.Inner;
        }
        Innermost(current).load_state_dict(reader);
    }

    /// <summary>
    /// Moves <paramref name="model"/> to <paramref name="device"/> and returns a new optimizer for it that carries the old
    /// one's state (momentum buffers, Adam moments, decorator counters, learning rates). TorchSharp's <c>Module.to</c>
    /// replaces the Parameter objects and libtorch 2.10 refuses to swap a tensor's storage across devices, so an
    /// optimizer built before the move would keep updating the old tensors: this saves its state, moves the model,
    /// builds a new optimizer with <paramref name="rebuild"/> (the same code that built the old one) and restores the
    /// state onto the device.
    /// </summary>
    public static T MoveTo<T>(nn.Module model, Device device, optim.Optimizer optimizer, Func<nn.Module, T> rebuild)
        where T : optim.Optimizer
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(rebuild);
        using var buffer = new MemoryStream();
        Save(optimizer, new BinaryWriter(buffer));
        model.to(device);
        var fresh = rebuild(model);
        buffer.Position = 0;
        Load(fresh, new BinaryReader(buffer));
        Innermost(OptimizerDecorator.Innermost(fresh)).to(device);
        return fresh;
    }

    private static OptimizerHelper Innermost(optim.Optimizer optimizer) =>
        optimizer as OptimizerHelper ?? throw new NotSupportedException(
            $"{optimizer.GetType().Name} does not expose its state; TorchSharp's managed optimizers (SGD, Adam, AdamW, …) do");

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
