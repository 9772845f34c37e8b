using System.Runtime.CompilerServices;
using NfNet.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Weights;

/// <summary>
/// The one door through which weights are written into a model that other threads may be running: every NfNet.NET
/// weight writer (safetensors and Haiku loads, checkpoints, EMA copies and swaps, data-parallel broadcasts) goes
/// through <see cref="Write(nn.Module, Action)"/>, and so should code of yours that writes into a model's parameters.
/// </summary>
/// <remarks>
/// <para>While a write runs it holds the model exclusively: an <see cref="Models.ImageClassifier"/>'s <c>forward</c>
/// (and <c>call</c>) on another thread waits for it, and a write waits for the forwards in flight. So a forward sees
/// the weights before a write or after it, never a mixture; afterwards every cached standardized weight inside the
/// model (<see cref="ScaledWSConv2d.FreezeForInference"/>) is recomputed on its next use. Forwards do not exclude each
/// other: any number run at once.</para>
/// <para>The lock belongs to the module object passed: write through the same object the inference threads call
/// (the model, not one of its blocks). Writes may nest on one thread (a checkpoint load that restores an EMA); a
/// write started from inside a forward of the same model is refused with <see cref="LockRecursionException"/>
/// rather than deadlocking. A model being trained is not shared: the optimizer writes its parameters in place.</para>
/// </remarks>
public static class ModelWeights
{
    private static readonly ConditionalWeakTable<nn.Module, ReaderWriterLockSlim> s_locks = new();

    /// <summary>Runs <paramref name="write"/> with <paramref name="model"/> held exclusively, then drops the model's
    /// cached standardized weights (also when <paramref name="write"/> throws: it may have written part).</summary>
    /// <exception cref="LockRecursionException">Called from inside a forward of <paramref name="model"/>.</exception>
    public static void Write(nn.Module model, Action write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Write(model, () => { write(); return 0; });
    }

    /// <summary><see cref="Write(nn.Module, Action)"/> for a write that returns a result.</summary>
    /// <exception cref="LockRecursionException">Called from inside a forward of <paramref name="model"/>.</exception>
    public static T Write<T>(nn.Module model, Func<T> write)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(write);
        var gate = LockOf(model);
        gate.EnterWriteLock();
        try
        {
            return write();
        }
        finally
        {
            try
            {
                foreach (var conv in model.modules().OfType<ScaledWSConv2d>()) conv.DropCachedWeight();
                if (model is ScaledWSConv2d self) self.DropCachedWeight();
            }
            finally
            {
                gate.ExitWriteLock();
            }
        }
    }

    /// <summary>Holds <paramref name="model"/> for a forward until disposed: writes wait, other forwards do not.</summary>
    internal static ReadHold Read(nn.Module model)
    {
        var gate = LockOf(model);
        gate.EnterReadLock();
        return new ReadHold(gate);
    }

    private static ReaderWriterLockSlim LockOf(nn.Module model) =>
        s_locks.GetValue(model, static _ => new ReaderWriterLockSlim(LockRecursionPolicy.SupportsRecursion));

    /// <summary>A forward's hold on a model's weights.</summary>
    internal readonly struct ReadHold(ReaderWriterLockSlim gate) : IDisposable
    {
        public void Dispose() => gate.ExitReadLock();
    }
}
