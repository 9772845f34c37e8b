using System.IO.Hashing;
using System.Text;
using NfNet.Platform;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Distributed;

/// <summary>
/// Starts data-parallel training the way PyTorch's DDP and DeepMind's NFNet code do: every rank's model is checked to
/// have the same structure (names, shapes, dtypes of parameters and buffers: an XxHash64 compared across ranks, so a
/// rank that built another model fails at once with <see cref="RankMismatchException"/>), then rank 0's parameters and
/// buffers are broadcast to all, and the result is verified. After that <see cref="GradientAverager"/> keeps the ranks'
/// parameters identical step after step.
/// </summary>
public static class DataParallel
{
    /// <summary>Checks, broadcasts from rank 0 and verifies <paramref name="module"/>'s state (CPU tensors).</summary>
    /// <exception cref="RankMismatchException">A rank's model differs in structure from rank 0's (on every rank).</exception>
    public static void BroadcastParameters(nn.Module module, ICommunicator communicator)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(communicator);
        var state = module.state_dict();
        Agree(communicator, StructureHash(module), "model structure (parameter and buffer names, shapes and dtypes)",
            $"{state.Count} tensors, {module.parameters().Sum(p => p.numel()):N0} parameters");
        if (communicator.WorldSize == 1) return;
        ModelWeights.Write(module, () =>
        {
            using var _ = no_grad();
            foreach (var (_, tensor) in state) Broadcast(tensor, communicator);
        });
        Agree(communicator, ValueHash(module), "parameter values after the broadcast", "");
    }

    /// <summary>XxHash64 of the names, shapes and dtypes of the module's parameters and buffers (and whether each
    /// parameter is trained).</summary>
    public static long StructureHash(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var text = new StringBuilder();
        foreach (var (name, t) in module.state_dict()) text.Append(name).Append(':').Append(t.dtype).Append(':').AppendJoin(',', Shapes.Of(t)).Append(';');
        foreach (var (name, p) in module.named_parameters()) text.Append(name).Append(p.requires_grad ? "+" : "-");
        return (long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>XxHash64 of every byte of the module's parameters and buffers (equal on all ranks once in sync).</summary>
    public static unsafe long ValueHash(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var hash = new XxHash64();
        foreach (var (_, t) in module.state_dict())
        {
            using var contiguous = ContiguousOnCpu(t);
            var bytes = contiguous.numel() * contiguous.element_size();
            if (bytes == 0) continue;
            hash.Append(new ReadOnlySpan<byte>((void*)TorchSharpInternals.DataPointer(contiguous), checked((int)bytes)));
        }
        return (long)hash.GetCurrentHashAsUInt64();
    }

    /// <summary>Raises <see cref="RankMismatchException"/> on every rank unless all ranks hold the same
    /// <paramref name="value"/> as rank 0.</summary>
    public static void Agree(ICommunicator communicator, long value, string what, string detail)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        var all = communicator.AllGather(value);
        var differing = Enumerable.Range(0, all.Length).Where(r => all[r] != all[0]).ToArray();
        if (differing.Length > 0)
            throw new RankMismatchException($"rank{(differing.Length > 1 ? "s" : "")} {string.Join(", ", differing)} of {all.Length} differ from rank 0 in the {what}" +
                (detail.Length > 0 ? $" (this is rank {communicator.Rank}: {detail})" : $" (this is rank {communicator.Rank})") +
                ": every rank must build the same model with the same options");
    }

    private static unsafe void Broadcast(Tensor tensor, ICommunicator communicator)
    {
        var bytes = tensor.numel() * tensor.element_size();
        if (bytes == 0) return;
        var direct = tensor.device_type == DeviceType.CPU && tensor.is_contiguous();
        var buffer = direct ? tensor : ContiguousOnCpu(tensor);
        try
        {
            var p = (byte*)TorchSharpInternals.DataPointer(buffer);
            for (long at = 0; at < bytes; at += int.MaxValue)
                communicator.Broadcast(new Span<byte>(p + at, (int)Math.Min(int.MaxValue, bytes - at)), 0);
            if (!direct) tensor.copy_(buffer);
        }
        finally
        {
            if (!direct) buffer.Dispose();
        }
    }

    /// <summary>The values of <paramref name="t"/> as a contiguous CPU tensor whose bytes can be read (the caller
    /// disposes it); each intermediate is held while libtorch reads it (docs/platform.md).</summary>
    private static Tensor ContiguousOnCpu(Tensor t)
    {
        using var detached = t.detach();
        using var onCpu = detached.cpu();
        return onCpu.contiguous();
    }
}
