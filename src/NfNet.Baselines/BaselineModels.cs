using System.Runtime.CompilerServices;

namespace NfNet.Models.Baselines;

/// <summary>
/// Registers the comparison models in <see cref="ModelRegistry"/> under timm's names when this assembly loads, and
/// under a <c>dm_</c> name where the layout is DeepMind's rather than timm's: <c>dm_nf_resnet50</c> (timm's
/// <c>nf_resnet50</c> has another stem, block and key layout), <c>resnet50</c> (v1.5), <c>resnetv2_50</c> (pre-activation), <c>efficientnetv2_s</c>,
/// <c>efficientnetv2_b0</c> and <c>coatnet_0</c>.
/// </summary>
public static class BaselineModels
{
    /// <summary>The names this package registers.</summary>
    public static IReadOnlyList<string> Names { get; } =
        new[] { "dm_nf_resnet50", "resnet50", "resnetv2_50", "efficientnetv2_s", "efficientnetv2_b0", "coatnet_0" };

    /// <summary>Registers the models (idempotent; runs by itself when the assembly loads).</summary>
    // A library module initializer is what lets ModelRegistry.Create("resnet50") work from NfNet.Core alone: the
    // registry loads this assembly by name and runs its module constructor (CA2255 warns for libraries in general).
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    public static void Register()
    {
        ModelRegistry.Register<NFResNetConfig>("dm_nf_resnet50", o => new NFResNetConfig
        {
            NumClasses = o.NumClasses ?? 1000,
            InChannels = o.InChannels ?? 3,
            DropRate = o.DropRate ?? 0,
            StochasticDepthRate = o.StochasticDepthRate ?? 0,
        }.Without(o.ImageSize, "dm_nf_resnet50"), (c, d) => new NFResNet(c, d));
        ModelRegistry.Register<ResNetConfig>("resnet50", o => ResNet(o, "resnet50", ResNetForm.PostActivationV15), (c, d) => new BatchNormResNet(c, d));
        ModelRegistry.Register<ResNetConfig>("resnetv2_50", o => ResNet(o, "resnetv2_50", ResNetForm.PreActivation), (c, d) => new BatchNormResNet(c, d));
        ModelRegistry.Register<EfficientNetV2Config>("efficientnetv2_s", o => EfficientNet(o, EfficientNetV2Config.S()), (c, d) => new EfficientNetV2(c, d));
        ModelRegistry.Register<EfficientNetV2Config>("efficientnetv2_b0", o => EfficientNet(o, EfficientNetV2Config.B0()), (c, d) => new EfficientNetV2(c, d));
        ModelRegistry.Register<CoAtNetConfig>("coatnet_0", o =>
        {
            ModelOptions.Refuse(o.DropRate, nameof(ModelOptions.DropRate), "coatnet_0");
            var c = CoAtNetConfig.CoAtNet0(o.NumClasses ?? 1000, o.InChannels ?? 3, o.ImageSize ?? 224);
            return c with { StochasticDepthRate = o.StochasticDepthRate ?? c.StochasticDepthRate };
        }, (c, d) => new CoAtNet(c, d));
    }

    private static ResNetConfig ResNet(ModelOptions o, string name, ResNetForm form)
    {
        ModelOptions.Refuse(o.DropRate, nameof(ModelOptions.DropRate), name);
        ModelOptions.Refuse(o.StochasticDepthRate, nameof(ModelOptions.StochasticDepthRate), name);
        return new ResNetConfig { Name = name, Form = form, NumClasses = o.NumClasses ?? 1000, InChannels = o.InChannels ?? 3 }.Without(o.ImageSize, name);
    }

    private static EfficientNetV2Config EfficientNet(ModelOptions o, EfficientNetV2Config c)
    {
        var configured = c with
        {
            NumClasses = o.NumClasses ?? c.NumClasses,
            InChannels = o.InChannels ?? c.InChannels,
            DropRate = o.DropRate ?? c.DropRate,
            StochasticDepthRate = o.StochasticDepthRate ?? c.StochasticDepthRate,
        };
        return configured.Without(o.ImageSize, c.Name);
    }

    // Models that run at any image size have no parameters sized by it.
    private static T Without<T>(this T config, int? imageSize, string name)
    {
        ModelOptions.Refuse(imageSize, nameof(ModelOptions.ImageSize), name);
        return config;
    }
}
