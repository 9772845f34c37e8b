using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using TorchSharp;

namespace NfNet.Reliability.Tests;

/// <summary>
/// Finds, in compiled IL, every place that leaves a TorchSharp <see cref="Scalar"/> to the finalizer (see
/// <c>NfNet.Platform.Scalars</c> for why that is a native use-after-free in TorchSharp 0.107).
/// </summary>
/// <remarks>
/// <para>A <i>creator</i> is any TorchSharp method that returns a new <see cref="Scalar"/> (the implicit conversions,
/// <c>ToScalar()</c> on numbers and tensors, Scalar's constructors). A creator's result is <i>owned</i> when the very next
/// instruction stores it in a static field (it never becomes unreachable) or in a local that the same method later
/// disposes (<c>using var s = x.ToScalar()</c>: the <c>finally</c> block's load keeps it alive until then). Anything else
/// (an argument passed straight on, a temporary read once) is unowned.</para>
/// <para>A TorchSharp method is <i>hazardous</i> when its own IL leaves a creator's result unowned (<c>ToDouble()</c>,
/// <c>square()</c>, <c>add_(Tensor)</c>'s default alpha, …) or calls a hazardous method, lambdas (<c>ldftn</c>) included.
/// The closure is computed over all of TorchSharp.dll, so a new TorchSharp release is re-read, not trusted.</para>
/// <para>Virtual calls are judged by the method named in the IL, not by the overrides that may run: an NfNet call to
/// <c>Optimizer.step()</c> is not blamed for TorchSharp's SGD.</para>
/// </remarks>
internal sealed class ScalarOwnershipScanner
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private readonly Type _scalar = typeof(Scalar);
    private readonly Dictionary<MethodKey, string> _hazards = new();

    /// <summary>Reads TorchSharp.dll once and computes its hazardous methods.</summary>
    public ScalarOwnershipScanner()
    {
        var torch = typeof(Scalar).Assembly;
        var bodies = ReadMethods(torch).ToList();
        var callers = new Dictionary<MethodKey, List<MethodKey>>();
        var queue = new Queue<MethodKey>();
        foreach (var (method, il) in bodies)
        {
            var key = new MethodKey(method);
            foreach (var site in Sites(method, il))
            {
                if (site.Unowned && !ReturnsScalar(method))
                {
                    if (_hazards.TryAdd(key, $"leaves the Scalar of {Describe(site.Callee)} unowned")) queue.Enqueue(key);
                }
                else if (!site.Creates && site.Callee.Module == torch.ManifestModule)
                {
                    var callee = new MethodKey(site.Callee);
                    if (!callers.TryGetValue(callee, out var list)) callers[callee] = list = [];
                    list.Add(key);
                }
            }
        }
        while (queue.Count > 0)
        {
            var hazard = queue.Dequeue();
            if (!callers.TryGetValue(hazard, out var list)) continue;
            foreach (var caller in list)
                if (_hazards.TryAdd(caller, $"calls {hazard.Name}, which {_hazards[hazard]}")) queue.Enqueue(caller);
        }
    }

    /// <summary>How many TorchSharp methods create an unowned Scalar, directly or through another.</summary>
    public int HazardousTorchSharpMethods => _hazards.Count;

    /// <summary>Whether the TorchSharp method <paramref name="method"/> creates an unowned Scalar (and why).</summary>
    public bool IsHazardous(MethodBase method, out string why) => _hazards.TryGetValue(new MethodKey(method), out why!);

    /// <summary>Every call site in <paramref name="assembly"/> that leaves a Scalar to the finalizer.</summary>
    public IEnumerable<string> Scan(Assembly assembly)
    {
        foreach (var (method, il) in ReadMethods(assembly))
            foreach (var site in Sites(method, il))
            {
                if (site.Unowned)
                    yield return $"{Name(method)} (IL_{site.Offset:x4}): {Describe(site.Callee)} makes a Scalar that nothing owns";
                else if (!site.Creates && IsHazardous(site.Callee, out var why))
                    yield return $"{Name(method)} (IL_{site.Offset:x4}): calls {Describe(site.Callee)}, which {why}";
                else if (!site.Creates && BuiltModule(site.Callee) is { } type && HazardousForward(type) is { } forward)
                    yield return $"{Name(method)} (IL_{site.Offset:x4}): builds a TorchSharp {type.Name}, whose {forward}";
            }
    }

    /// <summary>Every call in <paramref name="assembly"/> to a method <paramref name="forbidden"/> names a reason for
    /// (null for the methods it allows): the same IL reading as the Scalar scan, for TorchSharp's other hazards.</summary>
    public static IEnumerable<string> CallsTo(Assembly assembly, Func<MethodBase, string?> forbidden)
    {
        foreach (var (method, il) in ReadMethods(assembly))
            foreach (var site in Calls(method, il))
                if (forbidden(site.Callee) is { } why)
                    yield return $"{Name(method)} (IL_{site.Offset:x4}): {Describe(site.Callee)} {why}";
    }

    /// <summary>The TorchSharp module type a call builds (a constructor or a factory such as <c>nn.BatchNorm2d</c>):
    /// its <c>forward</c> runs later through <c>Module.call</c>, which the IL names only as the base method.</summary>
    private Type? BuiltModule(MethodBase callee)
    {
        if (callee.Module != _scalar.Module) return null;
        var type = callee is ConstructorInfo ? callee.DeclaringType : (callee as MethodInfo)?.ReturnType;
        return type is not null && typeof(torch.nn.Module).IsAssignableFrom(type) && !type.IsAbstract ? type : null;
    }

    private string? HazardousForward(Type module)
    {
        foreach (var forward in module.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => m.Name == "forward"))
            if (IsHazardous(forward, out var why)) return $"{Describe(forward)} {why}";
        return null;
    }

    private bool ReturnsScalar(MethodBase method) =>
        method is MethodInfo info ? info.ReturnType == _scalar : method.DeclaringType == _scalar && method.IsConstructor;

    private bool IsCreator(MethodBase callee) =>
        callee.Module == _scalar.Module && ReturnsScalar(callee);

    private readonly record struct Site(int Offset, MethodBase Callee, bool Creates, bool Unowned);

    private readonly record struct Instruction(int Offset, OpCode Code, long Operand);

    private IEnumerable<Site> Sites(MethodBase method, IReadOnlyList<Instruction> il)
    {
        HashSet<long>? disposedLocals = null;
        for (var i = 0; i < il.Count; i++)
        {
            var ins = il[i];
            if (Callee(method, ins) is not { } callee) continue;
            if (!IsCreator(callee))
            {
                yield return new Site(ins.Offset, callee, Creates: false, Unowned: false);
                continue;
            }
            var owned = false;
            if (i + 1 < il.Count && ins.Code != OpCodes.Ldftn && ins.Code != OpCodes.Ldvirtftn)
            {
                var next = il[i + 1];
                if (next.Code == OpCodes.Stsfld) owned = true;
                else if (StoredLocal(next) is { } local)
                    owned = (disposedLocals ??= DisposedLocals(method, il)).Contains(local);
            }
            else if (ins.Code == OpCodes.Ldftn || ins.Code == OpCodes.Ldvirtftn)
            {
                owned = true;   // a delegate to a creator (rare) creates nothing here
            }
            yield return new Site(ins.Offset, callee, Creates: true, Unowned: !owned);
        }
    }

    /// <summary>Locals loaded right before a <c>Dispose()</c> call (the <c>finally</c> of a <c>using</c>).</summary>
    private static HashSet<long> DisposedLocals(MethodBase method, IReadOnlyList<Instruction> il)
    {
        var result = new HashSet<long>();
        for (var i = 1; i < il.Count; i++)
        {
            var ins = il[i];
            if (ins.Code != OpCodes.Callvirt && ins.Code != OpCodes.Call) continue;
            if (LoadedLocal(il[i - 1]) is not { } local) continue;
            try
            {
                if (method.Module.ResolveMethod((int)ins.Operand) is { Name: "Dispose" } m && m.GetParameters().Length == 0)
                    result.Add(local);
            }
            catch (ArgumentException) { }
        }
        return result;
    }

    /// <summary>Every call, constructor call and delegate creation in <paramref name="method"/>, resolved.</summary>
    private static IEnumerable<(int Offset, MethodBase Callee)> Calls(MethodBase method, IReadOnlyList<Instruction> il)
    {
        foreach (var ins in il)
            if (Callee(method, ins) is { } callee) yield return (ins.Offset, callee);
    }

    /// <summary>The method <paramref name="ins"/> calls, constructs or makes a delegate to; null for any other
    /// instruction or a token that does not resolve.</summary>
    private static MethodBase? Callee(MethodBase method, Instruction ins)
    {
        if (ins.Code != OpCodes.Call && ins.Code != OpCodes.Callvirt && ins.Code != OpCodes.Newobj
            && ins.Code != OpCodes.Ldftn && ins.Code != OpCodes.Ldvirtftn)
            return null;
        var typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        try { return method.Module.ResolveMethod((int)ins.Operand, typeArgs, methodArgs); }
        catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException or FileNotFoundException) { return null; }
    }

    private static long? StoredLocal(Instruction ins) => ins.Code.Value switch
    {
        0x0A or 0x0B or 0x0C or 0x0D => ins.Code.Value - 0x0A,   // stloc.0 … stloc.3
        0x13 => ins.Operand,                                     // stloc.s
        unchecked((short)0xFE0E) => ins.Operand,                 // stloc
        _ => null,
    };

    private static long? LoadedLocal(Instruction ins) => ins.Code.Value switch
    {
        0x06 or 0x07 or 0x08 or 0x09 => ins.Code.Value - 0x06,   // ldloc.0 … ldloc.3
        0x11 => ins.Operand,                                     // ldloc.s
        unchecked((short)0xFE0C) => ins.Operand,                 // ldloc
        _ => null,
    };

    /// <summary>Every method body of <paramref name="assembly"/>, read from its file with System.Reflection.Metadata.</summary>
    private static IEnumerable<(MethodBase Method, IReadOnlyList<Instruction> Il)> ReadMethods(Assembly assembly)
    {
        using var stream = File.OpenRead(assembly.Location);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var module = assembly.ManifestModule;
        var result = new List<(MethodBase, IReadOnlyList<Instruction>)>();
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

    private static List<Instruction> Decode(byte[] il)
    {
        var list = new List<Instruction>();
        var pos = 0;
        while (pos < il.Length)
        {
            var offset = pos;
            short value = il[pos++];
            if (value == 0xFE) value = unchecked((short)(0xFE00 | il[pos++]));
            var code = OpCodesByValue[value];
            long operand = 0;
            switch (code.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    operand = il[pos]; pos += 1; break;
                case OperandType.InlineVar:
                    operand = BitConverter.ToUInt16(il, pos); pos += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    pos += 8; break;
                case OperandType.ShortInlineR:
                    pos += 4; break;
                case OperandType.InlineSwitch:
                    var n = BitConverter.ToInt32(il, pos);
                    pos += 4 + 4 * n; break;
                default:   // tokens, 32-bit branch targets and integers
                    operand = BitConverter.ToInt32(il, pos); pos += 4; break;
            }
            list.Add(new Instruction(offset, code, operand));
        }
        return list;
    }

    private static string Name(MethodBase method) => $"{method.DeclaringType?.FullName?.Replace('+', '.')}.{method.Name}";

    private static string Describe(MethodBase method) =>
        $"{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})";

    /// <summary>A method's identity across generic instantiations: its module and definition token.</summary>
    private readonly record struct MethodKey(Guid Module, int Token, string Name)
    {
        public MethodKey(MethodBase method) : this(method.Module.ModuleVersionId, method.MetadataToken, Describe(method)) { }

        public bool Equals(MethodKey other) => Module == other.Module && Token == other.Token;

        public override int GetHashCode() => HashCode.Combine(Module, Token);
    }
}
