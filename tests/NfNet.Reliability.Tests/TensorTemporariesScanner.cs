using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;

namespace NfNet.Reliability.Tests;

/// <summary>
/// Finds, in compiled IL, tensors that the finalizer may free while libtorch still reads them: a temporary tensor that
/// nothing holds, made in code that no dispose scope covers.
/// </summary>
/// <remarks>
/// <para>A TorchSharp method reads its tensor's native handle and then calls libtorch; from that moment the managed
/// object is dead to the JIT unless something else still refers to it. A temporary such as <c>t.detach()</c> in
/// <c>t.detach().to(dtype)</c> is then unreachable during the copy, and a collection on another thread finalizes it and
/// frees the native tensor being read (the exponential moving average's crash of 2026-12-06). A dispose scope holds
/// every tensor made inside it until it ends, so such code is safe inside one.</para>
/// <para>A <i>temporary</i> is the result of a call that makes a tensor (a TorchSharp method or property of
/// <see cref="torch.Tensor"/>, a module's <c>forward</c>, a delegate, a library method) whose last use may be a call
/// that reads its handle while nothing else holds it (<see cref="TensorFate"/> follows it through the IL).</para>
/// <para>A method is <i>covered</i> when it opens a dispose scope itself (<c>torch.NewDisposeScope</c>), or when
/// nobody outside the scanned assemblies can call it (not public, overriding nothing of TorchSharp's or the runtime's)
/// and every method that calls it (by name, by override, by interface, or by making a delegate to it) is covered.
/// A finding is a temporary in a method that is not covered.</para>
/// </remarks>
internal sealed class TensorTemporariesScanner
{
    private static readonly Type TensorType = typeof(torch.Tensor);
    private static readonly Assembly TorchSharpAssembly = typeof(torch.Tensor).Assembly;

    private readonly Dictionary<MethodKey, (MethodBase Method, IReadOnlyList<IlInstruction> Il)> _methods = new();
    private readonly HashSet<Module> _scanned;
    private readonly HashSet<MethodKey> _covered = new();
    private readonly TensorFate _fate;

    /// <summary>Reads <paramref name="assemblies"/> and computes which of their methods a dispose scope covers.</summary>
    public TensorTemporariesScanner(IEnumerable<Assembly> assemblies)
    {
        var list = assemblies.ToList();
        _scanned = list.Select(a => a.ManifestModule).ToHashSet();
        _fate = new TensorFate(_scanned);
        foreach (var assembly in list)
            foreach (var (method, il) in IlMethods.Read(assembly))
                _methods[new MethodKey(method)] = (method, il);

        var dispatch = Implementations(list);
        var callers = new Dictionary<MethodKey, HashSet<MethodKey>>();
        foreach (var (key, (method, il)) in _methods)
            foreach (var ins in il)
            {
                if (IlMethods.Callee(method, ins) is not { } callee) continue;
                var target = new MethodKey(callee);
                var targets = dispatch.TryGetValue(target, out var impls) ? impls.Append(target) : [target];
                foreach (var t in targets)
                    if (_methods.ContainsKey(t))
                    {
                        if (!callers.TryGetValue(t, out var set)) callers[t] = set = [];
                        set.Add(key);
                    }
            }

        foreach (var (key, (method, il)) in _methods)
            if (OpensScope(method, il)) _covered.Add(key);
        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var (key, (method, _)) in _methods)
            {
                if (_covered.Contains(key) || ExternallyCallable(method)) continue;
                if (callers.TryGetValue(key, out var set) && set.Count > 0 && set.All(_covered.Contains))
                {
                    _covered.Add(key);
                    changed = true;
                }
            }
        }
    }

    /// <summary>Every temporary tensor in a method of <paramref name="assembly"/> that no dispose scope covers.</summary>
    public IEnumerable<string> Scan(Assembly assembly)
    {
        foreach (var (key, (method, il)) in _methods)
        {
            if (method.Module != assembly.ManifestModule || _covered.Contains(key)) continue;
            for (var i = 0; i < il.Count; i++)
            {
                var ins = il[i];
                if (ins.Code == OpCodes.Ldftn || ins.Code == OpCodes.Ldvirtftn) continue;
                if (IlMethods.Callee(method, ins) is not { } callee || !MakesTensor(callee)) continue;
                if (_fate.IsHeld(method, il, i)) continue;
                yield return $"{IlMethods.Name(method)} (IL_{ins.Offset:x4}): the tensor {IlMethods.Describe(callee)} returns is a temporary no dispose scope holds";
            }
        }
    }

    /// <summary>Whether a dispose scope covers <paramref name="method"/>.</summary>
    public bool IsCovered(MethodBase method) => _covered.Contains(new MethodKey(method));

    private static bool OpensScope(MethodBase method, IReadOnlyList<IlInstruction> il) =>
        il.Any(ins => IlMethods.Callee(method, ins) is { Name: "NewDisposeScope" } callee && callee.Module.Assembly == TorchSharpAssembly);

    /// <summary>Whether code outside the scanned assemblies can call <paramref name="method"/>: users (public or
    /// protected on a public type) or TorchSharp and the runtime (an override or implementation of theirs).</summary>
    private bool ExternallyCallable(MethodBase method)
    {
        if (method.IsConstructor && method.IsStatic) return true;
        if ((method.IsPublic || method.IsFamily || method.IsFamilyOrAssembly) && IsVisible(method.DeclaringType)) return true;
        if (method is MethodInfo info)
        {
            var root = info.GetBaseDefinition();
            if (root.Module != info.Module && !_scanned.Contains(root.Module)) return true;
            if (info.DeclaringType is { } type && !type.IsInterface)
                foreach (var iface in type.GetInterfaces())
                {
                    if (_scanned.Contains(iface.Module)) continue;
                    var map = type.GetInterfaceMap(iface);
                    if (map.TargetMethods.Any(m => m.MetadataToken == info.MetadataToken && m.Module == info.Module)) return true;
                }
        }
        return false;
    }

    private static bool IsVisible(Type? type)
    {
        for (; type is not null; type = type.DeclaringType)
            if (!(type.IsPublic || type.IsNestedPublic || type.IsNestedFamily || type.IsNestedFamORAssem)) return false;
        return true;
    }

    /// <summary>For each virtual or interface method of the scanned assemblies, the methods a call to it may run.</summary>
    private Dictionary<MethodKey, List<MethodKey>> Implementations(IEnumerable<Assembly> assemblies)
    {
        var result = new Dictionary<MethodKey, List<MethodKey>>();
        void Add(MethodBase from, MethodBase to)
        {
            var key = new MethodKey(from);
            if (!result.TryGetValue(key, out var list)) result[key] = list = [];
            list.Add(new MethodKey(to));
        }
        foreach (var assembly in assemblies)
            foreach (var type in SafeTypes(assembly))
            {
                if (type.IsInterface) continue;
                foreach (var m in type.GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                    for (MethodInfo current = m, parent; (parent = BaseOf(current)) is not null && parent != current; current = parent)
                        Add(parent, m);
                foreach (var iface in type.GetInterfaces())
                {
                    if (!_scanned.Contains(iface.Module)) continue;
                    var map = type.GetInterfaceMap(iface);
                    for (var i = 0; i < map.InterfaceMethods.Length; i++) Add(map.InterfaceMethods[i], map.TargetMethods[i]);
                }
            }
        return result;
    }

    private static MethodInfo BaseOf(MethodInfo m)
    {
        if (!m.IsVirtual || m.DeclaringType?.BaseType is not { } baseType) return null!;
        var parameters = m.GetParameters().Select(p => p.ParameterType).ToArray();
        var found = baseType.GetMethod(m.Name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, null, parameters, null);
        return found is { IsVirtual: true } ? found : null!;
    }

    private static IEnumerable<Type> SafeTypes(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.Where(t => t is not null)!; }
    }

    /// <summary>Whether a call to <paramref name="callee"/> makes a new tensor object (rather than handing back one it
    /// was given or holds).</summary>
    private bool MakesTensor(MethodBase callee)
    {
        var returns = callee is MethodInfo info ? info.ReturnType : callee.DeclaringType;
        if (returns is null || !TensorType.IsAssignableFrom(returns)) return false;
        if (callee.Module.Assembly == TorchSharpAssembly)
        {
            // In-place operations and the scope moves return the tensor they were called on.
            if (callee.Name.EndsWith('_') || callee.Name is "DetachFromDisposeScope" or "MoveToOuterDisposeScope" or "MoveToOtherDisposeScope")
                return false;
            // A module's parameters and buffers are its fields; a tensor's properties (grad, T, real, …) are new objects.
            if (callee.Name.StartsWith("get_", StringComparison.Ordinal) && !TensorType.IsAssignableFrom(callee.DeclaringType))
                return false;
            return true;
        }
        if (_scanned.Contains(callee.Module))   // the library's properties hold their tensors; …InPlace returns its receiver
            return !callee.Name.StartsWith("get_", StringComparison.Ordinal) && !callee.Name.EndsWith("InPlace", StringComparison.Ordinal);
        // The runtime's collections and LINQ hand back what they hold; a delegate runs code that makes one.
        return callee.Name == "Invoke" && typeof(Delegate).IsAssignableFrom(callee.DeclaringType);
    }
}
