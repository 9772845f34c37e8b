using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using static TorchSharp.torch;

namespace NfNet.Models;

/// <summary>Builds a registered model from <see cref="ModelOptions"/>.</summary>
public delegate ImageClassifier ModelFactory(ModelOptions options);

/// <summary>
/// Every model of NfNet.NET by timm's name, as timm's <c>create_model</c>: the whole NormFreeNet family here
/// (<see cref="NormFreeFamily"/>: <c>dm_nfnet_f0</c> … <c>dm_nfnet_f7</c>, <c>nfnet_f*</c>, <c>eca_nfnet_l*</c>,
/// <c>nf_regnet_b*</c>, <c>nf_resnet*</c>, …), and with the NfNet.Baselines package referenced also <c>dm_nf_resnet50</c>, <c>resnet50</c>,
/// <c>resnetv2_50</c>, <c>efficientnetv2_s</c>, <c>efficientnetv2_b0</c> and <c>coatnet_0</c>. Names are
/// case-insensitive. Your own models are added with <see cref="Register{TConfig}"/>.
/// </summary>
/// <remarks>
/// A model is registered as data: a function from <see cref="ModelOptions"/> to its configuration record, and a builder
/// from that record to the model. The builder is also registered for the record's type, which is what lets a
/// checkpoint rebuild any model from the configuration it stores (<see cref="CreateFromConfiguration(string, string, Device?)"/>), a registered
/// name or not.
/// </remarks>
public static class ModelRegistry
{
    /// <summary>The assembly that registers the comparison models when it is present (NfNet.Baselines).</summary>
    internal const string BaselinesAssembly = "NfNet.Baselines";

    private static readonly ConcurrentDictionary<string, ModelFactory> Factories = new(StringComparer.OrdinalIgnoreCase);
    private static readonly ConcurrentDictionary<string, Func<ModelOptions, object>> Configurers = new(StringComparer.OrdinalIgnoreCase);
    private static readonly ConcurrentDictionary<string, (Type Type, Func<object, Device?, ImageClassifier> Build)> Builders = new(StringComparer.Ordinal);
    private static readonly List<string> Order = new();
    private static readonly Lazy<bool> ProvidersLoaded = new(LoadProviders);

    static ModelRegistry()
    {
        foreach (var name in NormFreeFamily.Names)
        {
            var row = NormFreeFamily.Get(name);
            Register<NFNetConfig>(name, o =>
            {
                ModelOptions.Refuse(o.ImageSize, nameof(ModelOptions.ImageSize), name);
                return row with
                {
                    NumClasses = o.NumClasses ?? row.NumClasses,
                    InChannels = o.InChannels ?? row.InChannels,
                    DropRate = o.DropRate ?? row.DropRate,
                    StochasticDepthRate = o.StochasticDepthRate ?? row.StochasticDepthRate,
                };
            }, (c, device) => new NFNet(c, device));
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
    /// <param name="name">A registered name (see <see cref="Names"/>), case-insensitive, or timm's <c>name.tag</c> of
    /// published weights (<see cref="PublishedWeights"/>).</param>
    /// <param name="numClasses">Classifier outputs; null keeps the model's default (1000); 0 builds no classifier.</param>
    /// <param name="inChannels">Input channels; null keeps the default (3).</param>
    /// <param name="device">Where to create the parameters; null for the CPU, <c>torch.META</c> for none.</param>
    /// <param name="pretrained">Load the model's published weights (timm's, through the shared Hugging Face cache:
    /// see <see cref="Hub.HubWeights"/>); with another class count the classifier is then reset for it, with another
    /// input channel count the first convolution is adapted as timm's <c>adapt_input_conv</c>.</param>
    /// <exception cref="UnknownModelException">No such name; the message lists the registered ones.</exception>
    /// <exception cref="Hub.HubException">The published weights are neither cached nor downloadable.</exception>
    public static ImageClassifier Create(string name, int? numClasses = null, int? inChannels = null, Device? device = null, bool pretrained = false) =>
        Create(name, new ModelOptions { NumClasses = numClasses, InChannels = inChannels, Device = device, Pretrained = pretrained });

    /// <summary>Builds the model registered as <paramref name="name"/> with <paramref name="options"/>.</summary>
    /// <exception cref="UnknownModelException">No such name; the message lists the registered ones.</exception>
    /// <exception cref="ArgumentException">An option the model has no use for is set.</exception>
    public static ImageClassifier Create(string name, ModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        Platform.NativeRuntime.EnsureLoaded();
        _ = ProvidersLoaded.Value;
        if (Factories.TryGetValue(name.Trim(), out var factory))
            return options.Pretrained ? PretrainedModel.Create(name, options, factory) : factory(options);
        // timm's "model.tag": the model, with those published weights when pretrained.
        if (PublishedWeights.FindTag(name) is { } tagged && Factories.TryGetValue(tagged.Model, out factory))
            return options.Pretrained ? PretrainedModel.Create(tagged.Model, options, factory, tagged) : factory(options);
        throw new UnknownModelException(name, Names);
    }

    /// <summary>
    /// Registers (or replaces) <paramref name="name"/> as data: <paramref name="configure"/> turns options into the
    /// model's configuration record, <paramref name="build"/> builds the model from a record. <paramref name="build"/> is
    /// also registered for <typeparamref name="TConfig"/>, so that checkpoints of any model with such a record rebuild
    /// (<see cref="CreateFromConfiguration(string, string, Device?)"/>). The model's <see cref="ImageClassifier.Configuration"/> must be that record,
    /// and the record must round-trip through <see cref="System.Text.Json.JsonSerializer"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty.</exception>
    public static void Register<TConfig>(string name, Func<ModelOptions, TConfig> configure, Func<TConfig, Device?, ImageClassifier> build)
        where TConfig : class
    {
        ArgumentNullException.ThrowIfNull(configure);
        RegisterConfiguration(build);
        Register(name, options => build(configure(options), options.Device));
        Configurers[name.Trim()] = options => configure(options);
    }

    /// <summary>The configuration record <paramref name="name"/> builds with <paramref name="options"/>, without building
    /// the model: to inspect it, or to edit it (<c>with { … }</c>) and build the variant with
    /// <see cref="CreateFromConfiguration(object, Device?)"/>.</summary>
    /// <exception cref="UnknownModelException">No such name, or it was registered with a factory of its own (no record).</exception>
    public static object Configure(string name, ModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        _ = ProvidersLoaded.Value;
        if (!Configurers.TryGetValue(name.Trim(), out var configure))
            throw new UnknownModelException(name, Configurers.Keys.Order(StringComparer.OrdinalIgnoreCase).ToArray());
        return configure(options ?? new ModelOptions());
    }

    /// <summary>Builds the model a configuration record describes, with the builder registered for its type.</summary>
    /// <exception cref="UnknownModelException">No builder is registered for the record's type.</exception>
    public static ImageClassifier CreateFromConfiguration(object configuration, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        _ = ProvidersLoaded.Value;
        var type = ConfigurationTypeName(configuration.GetType());
        if (!Builders.TryGetValue(type, out var entry))
            throw new UnknownModelException($"configuration type {type}", Builders.Keys.Order(StringComparer.Ordinal).ToArray());
        Platform.NativeRuntime.EnsureLoaded();
        return entry.Build(configuration, device);
    }

    /// <summary>Registers (or replaces) <paramref name="name"/> with a factory of its own. Checkpoints of the model rebuild
    /// only if its configuration type is registered too (<see cref="RegisterConfiguration{TConfig}"/>).</summary>
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
            Configurers.TryRemove(name, out _); // a plain factory replaces a configured registration
        }
    }

    /// <summary>Registers (or replaces) the builder of models configured by a <typeparamref name="TConfig"/>.</summary>
    public static void RegisterConfiguration<TConfig>(Func<TConfig, Device?, ImageClassifier> build) where TConfig : class
    {
        ArgumentNullException.ThrowIfNull(build);
        Builders[ConfigurationTypeName(typeof(TConfig))] = (typeof(TConfig), (c, d) => build((TConfig)c, d));
    }

    /// <summary>The name a configuration type is stored under in checkpoints (its full type name).</summary>
    public static string ConfigurationTypeName(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return type.FullName ?? type.Name;
    }

    /// <summary>Serialises <paramref name="model"/>'s configuration record (what checkpoints store).</summary>
    public static string SerializeConfiguration(ImageClassifier model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return JsonSerializer.Serialize(model.Configuration, model.Configuration.GetType());
    }

    /// <summary>Reads a configuration record of the registered type <paramref name="configurationType"/> from JSON.</summary>
    /// <exception cref="UnknownModelException">No builder is registered for that type.</exception>
    /// <exception cref="JsonException">The JSON does not describe such a record.</exception>
    public static object DeserializeConfiguration(string configurationType, string json)
    {
        ArgumentNullException.ThrowIfNull(configurationType);
        ArgumentNullException.ThrowIfNull(json);
        _ = ProvidersLoaded.Value;
        if (!Builders.TryGetValue(configurationType, out var entry))
            throw new UnknownModelException($"configuration type {configurationType}", Builders.Keys.Order(StringComparer.Ordinal).ToArray());
        return JsonSerializer.Deserialize(json, entry.Type) ?? throw new JsonException($"the configuration JSON is null for {configurationType}");
    }

    /// <summary>Rebuilds a model from its configuration record's type name and JSON (as checkpoints store them; see
    /// <see cref="ConfigurationTypeName"/> and <see cref="SerializeConfiguration"/>).</summary>
    /// <exception cref="UnknownModelException">No builder is registered for that type.</exception>
    /// <exception cref="JsonException">The JSON does not describe such a record.</exception>
    public static ImageClassifier CreateFromConfiguration(string configurationType, string json, Device? device = null)
    {
        return CreateFromConfiguration(DeserializeConfiguration(configurationType, json), device);
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
