using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>Builds a registered model: class-count and input-channel overrides (null keeps the model's default:
/// 1000 classes, 3 channels) and the device to create the parameters on (null: CPU; <c>torch.META</c> allocates none).</summary>
public delegate ImageClassifier ModelFactory(int? numClasses, int? inChannels, Device? device);

/// <summary>
/// Every model of NfNet.NET by timm's name, as timm's <c>create_model</c>: <c>dm_nfnet_f0</c> … <c>dm_nfnet_f7</c>
/// here, and with the NfNet.Baselines package referenced also <c>nf_resnet50</c>, <c>resnet50</c>,
/// <c>resnetv2_50</c>, <c>efficientnetv2_s</c>, <c>efficientnetv2_b0</c> and <c>coatnet_0</c>. Names are
/// case-insensitive. Your own models can be added with <see cref="Register"/>.
/// </summary>
public static class ModelRegistry
{
    /// <summary>The assembly that registers the comparison models when it is present (NfNet.Baselines).</summary>
    internal const string BaselinesAssembly = "NfNet.Baselines";

    private static readonly ConcurrentDictionary<string, ModelFactory> Factories = new(StringComparer.OrdinalIgnoreCase);
    private static readonly List<string> Order = new();
    private static readonly Lazy<bool> ProvidersLoaded = new(LoadProviders);

    static ModelRegistry()
    {
        foreach (var config in NFNetVariants.All)
        {
            var variant = config;
            Register($"dm_nfnet_{variant.Name.ToLowerInvariant()}", (classes, channels, device) =>
                new NFNet(variant with { NumClasses = classes ?? variant.NumClasses, InChannels = channels ?? variant.InChannels }, device));
        }
    }

    /// <summary>The registered names, in registration order (the NFNet family first).</summary>
    public static IReadOnlyList<string> Names
    {
        get
        {
            _ = ProvidersLoaded.Value;
            lock (Order) return Order.ToArray();
        }
    }

    /// <summary>Whether <paramref name="name"/> is registered.</summary>
    public static bool Contains(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        _ = ProvidersLoaded.Value;
        return Factories.ContainsKey(name.Trim());
    }

    /// <summary>Builds the model registered as <paramref name="name"/>.</summary>
    /// <param name="name">A registered name (see <see cref="Names"/>), case-insensitive.</param>
    /// <param name="numClasses">Classifier outputs; null keeps the model's default (1000); 0 builds no classifier.</param>
    /// <param name="inChannels">Input channels; null keeps the default (3).</param>
    /// <param name="device">Where to create the parameters; null for the CPU, <c>torch.META</c> for none.</param>
    /// <exception cref="UnknownModelException">No such name; the message lists the registered ones.</exception>
    public static ImageClassifier Create(string name, int? numClasses = null, int? inChannels = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        Devices.NativeRuntime.EnsureLoaded();
        _ = ProvidersLoaded.Value;
        if (!Factories.TryGetValue(name.Trim(), out var factory)) throw new UnknownModelException(name, Names);
        return factory(numClasses, inChannels, device);
    }

    /// <summary>Registers (or replaces) <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">The name is empty.</exception>
    public static void Register(string name, ModelFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a model name must not be empty", nameof(name));
        name = name.Trim();
        lock (Order)
        {
            if (!Factories.ContainsKey(name)) Order.Add(name);
            Factories[name] = factory;
        }
    }

    // The comparison models live in their own package, which registers them from its module initializer. Load it
    // when it is deployed beside this one, so that Create("resnet50") works without touching one of its types first.
    private static bool LoadProviders()
    {
        try
        {
            var assembly = Assembly.Load(new AssemblyName(BaselinesAssembly));
            RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
            return true;
        }
        catch (FileNotFoundException)
        {
            return false; // NfNet.Baselines is not referenced: only the NFNet family is registered.
        }
    }
}
