using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;

namespace NfNet.Reliability.Tests;

/// <summary>
/// Follows a tensor a call returns through a method's IL (the evaluation stack, then its locals) to what finally
/// happens to it, for <see cref="TensorTemporariesScanner"/>.
/// </summary>
/// <remarks>
/// The question is whether its <i>last</i> use can be a call that reads its native handle while nothing else refers to
/// it: until then a local that is read again, a field, a collection or a <c>using</c> keeps it reachable. TorchSharp's
/// in-place operations (<c>add_</c>, …) return the tensor they were called on, so they keep it alive through their own
/// native call, and what counts is what happens to their result.
/// </remarks>
internal sealed class TensorFate(HashSet<Module> scanned)
{
    private static readonly Type TensorType = typeof(torch.Tensor);
    private static readonly Assembly TorchSharpAssembly = typeof(torch.Tensor).Assembly;

    /// <summary>What happens to a tensor in the end: held beyond the method, kept until the method disposes it (a
    /// <c>using</c>), its life ended without a native read, or its last use a call that may read it natively.</summary>
    private enum Use { Held, Kept, Ends, Read }

    /// <summary>Whether the tensor the call at <paramref name="i"/> returns is held until libtorch is done with it.</summary>
    public bool IsHeld(MethodBase method, IReadOnlyList<IlInstruction> il, int i) => UseOf(method, il, i, 0, 0) != Use.Read;

    /// <summary>What happens to the value the instruction at <paramref name="i"/> pushes: <see cref="Use.Held"/> when
    /// something keeps it for the rest of the method and beyond (a field, an array, a collection, <c>Parameter</c>'s
    /// constructor, which takes its native handle); <see cref="Use.Ends"/> when its life ends without a native read
    /// (returned, discarded, disposed); <see cref="Use.Read"/> when its last use may be a call into TorchSharp or the
    /// library, which reads its handle and lets it go.</summary>
    private Use UseOf(MethodBase method, IReadOnlyList<IlInstruction> il, int i, int depth, int above)
    {
        if (depth > 6 || Consumer(method, il, i, above) is not ({ } at, var position)) return Use.Read;
        var consumer = il[at];
        // dup: two references (s = t.clone(); s.DetachFromDisposeScope(); return s): the weaker of the two counts.
        if (consumer.Code == OpCodes.Dup)
        {
            var top = UseOf(method, il, at, depth + 1, 0);
            var below = UseOf(method, il, at, depth + 1, 1);
            return (Use)Math.Min((int)top, (int)below) is var held and (Use.Held or Use.Kept) ? held
                : top == Use.Read || below == Use.Read ? Use.Read : Use.Ends;
        }
        if (consumer.Code == OpCodes.Stfld || consumer.Code == OpCodes.Stsfld || consumer.Code == OpCodes.Stobj
            || consumer.Code.Name!.StartsWith("stelem", StringComparison.Ordinal))
            return Use.Held;
        // Returned, discarded, or compared with null (a using block's finally, before its Dispose).
        if (consumer.Code == OpCodes.Ret || consumer.Code == OpCodes.Pop || consumer.Code.Name is "brtrue" or "brtrue.s" or "brfalse" or "brfalse.s")
            return Use.Ends;
        if (IlMethods.StoredLocal(consumer) is { } local) return UseOfLocal(method, il, local, depth);
        if (IlMethods.Callee(method, consumer) is not { } callee) return Use.Read;
        if (callee.Name == "Dispose" && callee.GetParameters().Length == 0) return Use.Ends;
        // Called on it, a method that hands back the tensor it was called on: judged by what happens to that.
        if (position == 0 && ReturnsItsReceiver(callee)) return UseOf(method, il, at, depth + 1, 0);
        if (callee.Module.Assembly == TorchSharpAssembly)
            return callee is ConstructorInfo && callee.DeclaringType == typeof(TorchSharp.Modules.Parameter)
                || callee.Name is "register_buffer" or "register_parameter" ? Use.Held : Use.Read;
        // A library constructor keeps the tensors it is given (a data source, a cache entry); any other library method
        // or delegate may read it natively as its last use.
        if (scanned.Contains(callee.Module)) return callee is ConstructorInfo ? Use.Held : Use.Read;
        if (typeof(Delegate).IsAssignableFrom(callee.DeclaringType)) return Use.Read;
        return Use.Held;   // the runtime's collections, tuples, GC.KeepAlive
    }

    /// <summary>TorchSharp's in-place operations (<c>add_</c>, …) and scope moves, and the library's <c>…InPlace</c>
    /// helpers, return the tensor they were called on.</summary>
    private bool ReturnsItsReceiver(MethodBase callee) =>
        callee is MethodInfo info && TensorType.IsAssignableFrom(info.ReturnType)
        && (callee.Module.Assembly == TorchSharpAssembly
                && (callee.Name.EndsWith('_') || callee.Name is "DetachFromDisposeScope" or "MoveToOuterDisposeScope" or "MoveToOtherDisposeScope")
            || scanned.Contains(callee.Module) && callee.Name.EndsWith("InPlace", StringComparison.Ordinal));

    /// <summary>A local stays alive until its last read. It holds its tensor if any read stores it somewhere that
    /// keeps it, or if every read that may be the last one (no other read reachable after it) ends its life.</summary>
    private Use UseOfLocal(MethodBase method, IReadOnlyList<IlInstruction> il, long local, int depth)
    {
        // A local the method disposes (using var t = …) lives until its finally block.
        if (IlMethods.DisposedLocals(method, il).Contains(local)) return Use.Kept;
        var reads = Enumerable.Range(0, il.Count).Where(j => IlMethods.LoadedLocal(il[j]) == local).ToHashSet();
        if (reads.Count == 0) return Use.Ends;
        var uses = reads.ToDictionary(j => j, j => UseOf(method, il, j, depth + 1, 0));
        // Stored somewhere that keeps it, or copied into a local that is disposed (using (t) …): alive until then.
        if (uses.ContainsValue(Use.Held)) return Use.Held;
        if (uses.ContainsValue(Use.Kept)) return Use.Kept;
        var indexOf = IndexOf(il);
        foreach (var (j, use) in uses)
            if (use == Use.Read && !ReachesAnother(il, indexOf, j, reads, local)) return Use.Read;
        return Use.Ends;
    }

    /// <summary>Whether another read of <paramref name="local"/> may follow the read at <paramref name="from"/> before
    /// the local is written again (a loop's next iteration reads a new tensor, not this one).</summary>
    private static bool ReachesAnother(IReadOnlyList<IlInstruction> il, IReadOnlyDictionary<int, int> indexOf, int from, HashSet<int> reads, long local)
    {
        var seen = new HashSet<int>();
        var work = new Stack<int>(IlMethods.Successors(il, indexOf, from));
        while (work.Count > 0)
        {
            var k = work.Pop();
            if (!seen.Add(k)) continue;
            if (reads.Contains(k)) return true;
            if (IlMethods.StoredLocal(il[k]) == local) continue;
            foreach (var next in IlMethods.Successors(il, indexOf, k)) work.Push(next);
        }
        return false;
    }

    private static Dictionary<int, int> IndexOf(IReadOnlyList<IlInstruction> il)
    {
        var map = new Dictionary<int, int>(il.Count);
        for (var k = 0; k < il.Count; k++) map[il[k].Offset] = k;
        return map;
    }

    /// <summary>The index of the instruction that takes the value the instruction at <paramref name="i"/> pushes (with
    /// <paramref name="above"/> values on top of it), and which of that instruction's operands it is, by counting the
    /// evaluation stack forward; null when a conditional branch comes first.</summary>
    private static (int At, int Position)? Consumer(MethodBase method, IReadOnlyList<IlInstruction> il, int i, int above)
    {
        // above: values pushed on top of ours and not yet taken
        Dictionary<int, int>? indexOf = null;
        for (int j = i + 1, steps = 0; j < il.Count && steps < 10_000; j++, steps++)
        {
            var ins = il[j];
            var (pops, pushes) = StackEffect(method, ins);
            if (pops > above) return (j, pops == int.MaxValue ? -1 : pops - 1 - above);   // position 0: the receiver or first argument
            above += pushes - pops;
            // The arms of a conditional expression meet after an unconditional branch: follow it.
            if ((ins.Code == OpCodes.Br || ins.Code == OpCodes.Br_S) && ins.Targets is [var target]
                && (indexOf ??= IndexOf(il)).TryGetValue(target, out var at))
            {
                j = at - 1;
                continue;
            }
            if (ins.Code.FlowControl is FlowControl.Branch or FlowControl.Cond_Branch or FlowControl.Return or FlowControl.Throw)
                return null;
        }
        return null;
    }

    private static (int Pops, int Pushes) StackEffect(MethodBase method, IlInstruction ins)
    {
        if (ins.Code == OpCodes.Call || ins.Code == OpCodes.Callvirt || ins.Code == OpCodes.Newobj)
        {
            if (IlMethods.Callee(method, ins) is not { } callee) return (int.MaxValue, 0);
            var pops = callee.GetParameters().Length + (!callee.IsStatic && ins.Code != OpCodes.Newobj ? 1 : 0);
            var pushes = ins.Code == OpCodes.Newobj || callee is MethodInfo { ReturnType: var r } && r != typeof(void) ? 1 : 0;
            return (pops, pushes);
        }
        if (ins.Code == OpCodes.Ret) return (method is MethodInfo { ReturnType: var r } && r != typeof(void) ? 1 : 0, 0);
        if (ins.Code == OpCodes.Calli || ins.Code == OpCodes.Jmp) return (int.MaxValue, 0);
        var pop = ins.Code.StackBehaviourPop switch
        {
            StackBehaviour.Pop0 => 0,
            StackBehaviour.Pop1 or StackBehaviour.Popi or StackBehaviour.Popref => 1,
            StackBehaviour.Pop1_pop1 or StackBehaviour.Popi_pop1 or StackBehaviour.Popi_popi or StackBehaviour.Popi_popi8
                or StackBehaviour.Popi_popr4 or StackBehaviour.Popi_popr8 or StackBehaviour.Popref_pop1 or StackBehaviour.Popref_popi => 2,
            StackBehaviour.Popi_popi_popi or StackBehaviour.Popref_popi_popi or StackBehaviour.Popref_popi_popi8
                or StackBehaviour.Popref_popi_popr4 or StackBehaviour.Popref_popi_popr8 or StackBehaviour.Popref_popi_popref
                or StackBehaviour.Popref_popi_pop1 => 3,
            _ => int.MaxValue,   // PopAll, Varpop other than calls: stop counting
        };
        var push = ins.Code.StackBehaviourPush switch
        {
            StackBehaviour.Push0 => 0,
            StackBehaviour.Push1_push1 => 2,
            _ => 1,
        };
        return (pop, push);
    }
}
