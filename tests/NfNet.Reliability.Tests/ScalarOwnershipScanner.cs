using System.Reflection;
using System.Reflection.Emit;
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
    private readonly Type _scalar = typeof(Scalar);
    private readonly Dictionary<MethodKey, string> _hazards = new();

    /// <summary>Reads TorchSharp.dll once and computes its hazardous methods.</summary>
    public ScalarOwnershipScanner()
    {
        var torch = typeof(Scalar).Assembly;
        var bodies = IlMethods.Read(torch).ToList();
        var callers = new Dictionary<MethodKey, List<MethodKey>>();
        var queue = new Queue<MethodKey>();
        foreach (var (method, il) in bodies)
        {
            var key = new MethodKey(method);
            foreach (var site in Sites(method, il))
            {
                if (site.Unowned && !ReturnsScalar(method))
                {
                    if (_hazards.TryAdd(key, $"leaves the Scalar of {IlMethods.Describe(site.Callee)} unowned")) queue.Enqueue(key);
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
        foreach (var (method, il) in IlMethods.Read(assembly))
            foreach (var site in Sites(method, il))
            {
                if (site.Unowned)
                    yield return $"{IlMethods.Name(method)} (IL_{site.Offset:x4}): {IlMethods.Describe(site.Callee)} makes a Scalar that nothing owns";
                else if (!site.Creates && IsHazardous(site.Callee, out var why))
                    yield return $"{IlMethods.Name(method)} (IL_{site.Offset:x4}): calls {IlMethods.Describe(site.Callee)}, which {why}";
                else if (!site.Creates && BuiltModule(site.Callee) is { } type && HazardousForward(type) is { } forward)
                    yield return $"{IlMethods.Name(method)} (IL_{site.Offset:x4}): builds a TorchSharp {type.Name}, whose {forward}";
            }
    }

    /// <summary>Every call in <paramref name="assembly"/> to a method <paramref name="forbidden"/> names a reason for
    /// (null for the methods it allows): the same IL reading as the Scalar scan, for TorchSharp's other hazards.</summary>
    public static IEnumerable<string> CallsTo(Assembly assembly, Func<MethodBase, string?> forbidden)
    {
        foreach (var (method, il) in IlMethods.Read(assembly))
            foreach (var site in Calls(method, il))
                if (forbidden(site.Callee) is { } why)
                    yield return $"{IlMethods.Name(method)} (IL_{site.Offset:x4}): {IlMethods.Describe(site.Callee)} {why}";
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
            if (IsHazardous(forward, out var why)) return $"{IlMethods.Describe(forward)} {why}";
        return null;
    }

    private bool ReturnsScalar(MethodBase method) =>
        method is MethodInfo info ? info.ReturnType == _scalar : method.DeclaringType == _scalar && method.IsConstructor;

    private bool IsCreator(MethodBase callee) =>
        callee.Module == _scalar.Module && ReturnsScalar(callee);

    private readonly record struct Site(int Offset, MethodBase Callee, bool Creates, bool Unowned);

    private IEnumerable<Site> Sites(MethodBase method, IReadOnlyList<IlInstruction> il)
    {
        HashSet<long>? disposedLocals = null;
        for (var i = 0; i < il.Count; i++)
        {
            var ins = il[i];
            if (IlMethods.Callee(method, ins) is not { } callee) continue;
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
                else if (IlMethods.StoredLocal(next) is { } local)
                    owned = (disposedLocals ??= IlMethods.DisposedLocals(method, il)).Contains(local);
            }
            else if (ins.Code == OpCodes.Ldftn || ins.Code == OpCodes.Ldvirtftn)
            {
                owned = true;   // a delegate to a creator (rare) creates nothing here
            }
            yield return new Site(ins.Offset, callee, Creates: true, Unowned: !owned);
        }
    }

    /// <summary>Every call, constructor call and delegate creation in <paramref name="method"/>, resolved.</summary>
    private static IEnumerable<(int Offset, MethodBase Callee)> Calls(MethodBase method, IReadOnlyList<IlInstruction> il)
    {
        foreach (var ins in il)
            if (IlMethods.Callee(method, ins) is { } callee) yield return (ins.Offset, callee);
    }
}
