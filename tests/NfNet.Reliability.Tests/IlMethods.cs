using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace NfNet.Reliability.Tests;

/// <summary>One IL instruction: its offset, opcode, operand (a token, a local's index; 0 if none) and, for a branch,
/// the offsets it may jump to.</summary>
internal readonly record struct IlInstruction(int Offset, OpCode Code, long Operand, int[]? Targets = null);

/// <summary>
/// Compiled method bodies read with System.Reflection.Metadata, for the scanners that check the library's rules on its
/// IL (<see cref="ScalarOwnershipScanner"/>, <see cref="TensorTemporariesScanner"/>, the shape-array scan): what the
/// compiler made of the source, lambdas, <c>using</c> blocks and implicit conversions included.
/// </summary>
internal static class IlMethods
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Every method body of <paramref name="assembly"/>, decoded.</summary>
    public static IReadOnlyList<(MethodBase Method, IReadOnlyList<IlInstruction> Il)> Read(Assembly assembly)
    {
        using var stream = File.OpenRead(assembly.Location);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var module = assembly.ManifestModule;
        var result = new List<(MethodBase, IReadOnlyList<IlInstruction>)>();
        foreach (var handle in reader.MethodDefinitions)
        {
            var definition = reader.GetMethodDefinition(handle);
            if (definition.RelativeVirtualAddress == 0) continue;   // abstract, extern, P/Invoke
            MethodBase? method;
            try { method = module.ResolveMethod(MetadataTokens.GetToken(handle)); }
            catch (Exception e) when (e is ArgumentException or TypeLoadException or FileNotFoundException) { continue; }
            if (method is null) continue;
            var body = pe.GetMethodBody(definition.RelativeVirtualAddress);
            result.Add((method, Decode(body.GetILBytes()!)));
        }
        return result;
    }

    /// <summary>The method <paramref name="ins"/> calls, constructs or makes a delegate to; null for any other
    /// instruction or a token that does not resolve.</summary>
    public static MethodBase? Callee(MethodBase method, IlInstruction ins)
    {
        if (ins.Code != OpCodes.Call && ins.Code != OpCodes.Callvirt && ins.Code != OpCodes.Newobj
            && ins.Code != OpCodes.Ldftn && ins.Code != OpCodes.Ldvirtftn)
            return null;
        var typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        try { return method.Module.ResolveMethod((int)ins.Operand, typeArgs, methodArgs); }
        catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException or FileNotFoundException) { return null; }
    }

    /// <summary>The local a <c>stloc</c> writes; null for any other instruction.</summary>
    public static long? StoredLocal(IlInstruction ins) => ins.Code.Value switch
    {
        0x0A or 0x0B or 0x0C or 0x0D => ins.Code.Value - 0x0A,   // stloc.0 … stloc.3
        0x13 => ins.Operand,                                     // stloc.s
        unchecked((short)0xFE0E) => ins.Operand,                 // stloc
        _ => null,
    };

    /// <summary>The local a <c>ldloc</c> reads; null for any other instruction.</summary>
    public static long? LoadedLocal(IlInstruction ins) => ins.Code.Value switch
    {
        0x06 or 0x07 or 0x08 or 0x09 => ins.Code.Value - 0x06,   // ldloc.0 … ldloc.3
        0x11 => ins.Operand,                                     // ldloc.s
        unchecked((short)0xFE0C) => ins.Operand,                 // ldloc
        _ => null,
    };

    /// <summary>Locals loaded right before a <c>Dispose()</c> call (the <c>finally</c> of a <c>using</c>).</summary>
    public static HashSet<long> DisposedLocals(MethodBase method, IReadOnlyList<IlInstruction> il)
    {
        var result = new HashSet<long>();
        for (var i = 1; i < il.Count; i++)
        {
            var ins = il[i];
            if (ins.Code != OpCodes.Callvirt && ins.Code != OpCodes.Call) continue;
            if (LoadedLocal(il[i - 1]) is not { } local) continue;
            if (Callee(method, ins) is { Name: "Dispose" } m && m.GetParameters().Length == 0) result.Add(local);
        }
        return result;
    }

    /// <summary>The instructions that may run right after instruction <paramref name="i"/>, as indices: the next one
    /// unless it jumps, returns or throws, and its branch targets. A <c>leave</c> also goes on to the next instruction,
    /// where the C# compiler puts the <c>finally</c> block it runs first; <c>endfinally</c> goes on after that block.</summary>
    public static IEnumerable<int> Successors(IReadOnlyList<IlInstruction> il, IReadOnlyDictionary<int, int> indexOf, int i)
    {
        var ins = il[i];
        if (ins.Targets is { } targets)
            foreach (var t in targets)
                if (indexOf.TryGetValue(t, out var j)) yield return j;
        var jumps = ins.Code.FlowControl is FlowControl.Branch && ins.Code != OpCodes.Leave && ins.Code != OpCodes.Leave_S
            || ins.Code.FlowControl is FlowControl.Throw
            || ins.Code.FlowControl is FlowControl.Return && ins.Code != OpCodes.Endfinally;
        if (!jumps && i + 1 < il.Count) yield return i + 1;
    }

    /// <summary>Namespace, type and method, nested types joined by dots.</summary>
    public static string Name(MethodBase method) => $"{method.DeclaringType?.FullName?.Replace('+', '.')}.{method.Name}";

    /// <summary>Type, method and parameter types, for findings.</summary>
    public static string Describe(MethodBase method) =>
        $"{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})";

    private static List<IlInstruction> Decode(byte[] il)
    {
        var list = new List<IlInstruction>();
        var pos = 0;
        while (pos < il.Length)
        {
            var offset = pos;
            short value = il[pos++];
            if (value == 0xFE) value = unchecked((short)(0xFE00 | il[pos++]));
            var code = OpCodesByValue[value];
            long operand = 0;
            int[]? targets = null;
            switch (code.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget:
                    targets = [pos + 1 + (sbyte)il[pos]]; pos += 1; break;
                case OperandType.InlineBrTarget:
                    targets = [pos + 4 + BitConverter.ToInt32(il, pos)]; pos += 4; break;
                case OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    operand = il[pos]; pos += 1; break;
                case OperandType.InlineVar:
                    operand = BitConverter.ToUInt16(il, pos); pos += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    pos += 8; break;
                case OperandType.ShortInlineR:
                    pos += 4; break;
                case OperandType.InlineSwitch:
                    var n = BitConverter.ToInt32(il, pos);
                    var end = pos + 4 + 4 * n;
                    targets = Enumerable.Range(0, n).Select(k => end + BitConverter.ToInt32(il, pos + 4 + 4 * k)).ToArray();
                    pos = end; break;
                default:   // tokens, 32-bit branch targets and integers
                    operand = BitConverter.ToInt32(il, pos); pos += 4; break;
            }
            list.Add(new IlInstruction(offset, code, operand, targets));
        }
        return list;
    }
}

/// <summary>A method's identity across generic instantiations: its module and definition token.</summary>
internal readonly record struct MethodKey(Guid Module, int Token, string Name)
{
    public MethodKey(MethodBase method) : this(method.Module.ModuleVersionId, method.MetadataToken, IlMethods.Describe(method)) { }

    public bool Equals(MethodKey other) => Module == other.Module && Token == other.Token;

    public override int GetHashCode() => HashCode.Combine(Module, Token);
}
