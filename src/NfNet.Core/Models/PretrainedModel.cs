using NfNet.Hub;
using NfNet.Weights;

namespace NfNet.Models;

/// <summary>
/// <c>ModelRegistry.Create(name, pretrained: true)</c>: the model built with the published class count, its published
/// weights (<see cref="PublishedWeights"/>: the default tag, or the one <c>name.tag</c> names) loaded strictly from the
/// Hugging Face cache (downloaded once when allowed), the first convolution adapted when the model takes other than 3
/// input channels (<see cref="InputConvAdaptation"/>), then — for another class count — its classifier reset, as timm's
/// <c>create_model(name, pretrained=True, num_classes=n, in_chans=c)</c> does.
/// </summary>
internal static class PretrainedModel
{
    public static ImageClassifier Create(string name, ModelOptions options, ModelFactory factory, PublishedWeight? tag = null)
    {
        string hubId;
        int classes, published;
        string? firstConv;
        using (var probe = factory(options with { Pretrained = false, InChannels = null, Device = TorchSharp.torch.META }))
        {
            var weights = tag ?? PublishedWeights.DefaultFor(probe.ModelName);
            hubId = weights?.HubId ?? probe.PretrainedConfig.HubId
                ?? throw new ArgumentException($"'{name}' has no published weights (its pretrained configuration has no Hub id): load a file with LoadSafetensors", nameof(name));
            classes = weights?.NumClasses ?? probe.PretrainedConfig.NumClasses;
            published = probe.InChannels;
            // timm's first_conv, or the model's first convolution where the table does not say.
            firstConv = weights?.FirstConv ?? probe.named_parameters().FirstOrDefault(p => p.parameter.dim() == 4).name?.Replace(".weight", "");
        }
        var path = HubWeights.Resolve(hubId, HubWeights.WeightsFile, options.Hub);
        var model = factory(options with { Pretrained = false, NumClasses = classes });
        var state = SafetensorsReader.Load(path);
        try
        {
            if (options.InChannels is { } asked && asked != model.InChannels)
                throw new ArgumentException($"'{name}' cannot be built with {asked} input channels (it takes {model.InChannels})", nameof(options));
            if (model.InChannels != published)
            {
                var key = firstConv + ".weight";
                if (firstConv is null || !state.TryGetValue(key, out var rgb))
                    throw new StateDictMismatchException(new[] { key }, Array.Empty<string>(), Array.Empty<string>());
                state[key] = InputConvAdaptation.Adapt(rgb, model.InChannels);
                rgb.Dispose();
            }
            StateDictLoader.Load(model, state, strict: true);
            if (options.NumClasses is { } n && n != classes) model.ResetClassifier(n);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
    }
}
