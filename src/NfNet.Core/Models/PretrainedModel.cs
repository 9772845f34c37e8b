using NfNet.Hub;
using NfNet.Weights;

namespace NfNet.Models;

/// <summary>
/// <c>ModelRegistry.Create(name, pretrained: true)</c>: the model built with the published class count, its published
/// weights loaded strictly from the Hugging Face cache (downloaded once when allowed), then — for another class count —
/// its classifier reset, as timm's <c>create_model(name, pretrained=True, num_classes=n)</c> does.
/// </summary>
internal static class PretrainedModel
{
    public static ImageClassifier Create(string name, ModelOptions options, ModelFactory factory)
    {
        using (var probe = factory(options with { Pretrained = false, Device = TorchSharp.torch.META }))
        {
            var published = probe.PretrainedConfig;
            if (published.HubId is null)
                throw new ArgumentException($"'{name}' has no published weights (its pretrained configuration has no Hub id): load a file with LoadSafetensors", nameof(name));
            if (options.InChannels is { } c && c != probe.InChannels)
                throw new ArgumentException($"the published weights of '{name}' take {probe.InChannels} input channels, not {c}", nameof(options));
            var path = HubWeights.Resolve(published.HubId, HubWeights.WeightsFile, options.Hub);
            var model = factory(options with { Pretrained = false, NumClasses = published.NumClasses });
            try
            {
                model.LoadSafetensors(path);
                if (options.NumClasses is { } classes && classes != published.NumClasses) model.ResetClassifier(classes);
                return model;
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
    }
}
