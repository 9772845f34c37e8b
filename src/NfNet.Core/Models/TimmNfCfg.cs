using System.Text.Json;
using NfNet.Layers;

namespace NfNet.Models;

/// <summary>Reads timm's <c>NfCfg</c> fields (JSON) into an <see cref="NFNetConfig"/>: <see cref="NFNetConfig.FromTimm"/>.</summary>
internal static class TimmNfCfg
{
    /// <summary>The recipe fields of a timm model built without a recipe: timm's <c>create_model</c> defaults (no dropout,
    /// no stochastic depth, 224 px) and its <c>rand-m9-mstd0.5</c> RandAugment.</summary>
    public static NFNetConfig TimmDefaults { get; } = new()
    {
        DropRate = 0, StochasticDepthRate = 0, StochasticDepthMode = StochasticDepthMode.Timm,
        TrainResolution = 224, EvalResolution = 224, RandAugment = new RandAugmentSetting(2, 9),
    };

    /// <summary>NfCfg's own defaults (the fields a timm NfCfg leaves out), with <see cref="TimmDefaults"/>' recipe.</summary>
    public static NFNetConfig NfCfgDefaults { get; } = TimmDefaults with
    {
        Alpha = 0.2,
        StemType = StemTypes.Conv3x3,
        StemWidth = null,
        GroupWidth = null,
        AttentionLayer = null,
        AttentionRatio = 1.0 / 16,
        AttentionDivisor = 8,
        AttentionGain = 2.0,
        WidthFactor = 1.0,
        BottleneckRatio = 0.5,
        FinalFeatures = 0,
        ChannelDivisor = 8,
        Reg = false,
        ExtraConv = false,
        GammaInActivation = false,
        Padding = ConvPadding.Symmetric,
        StandardizationEps = 1e-5,
        SkipInit = false,
        ZeroInitFc = false,
        Activation = ActivationKind.Silu,
    };

    private static readonly string[] Fields =
    {
        "depths", "channels", "alpha", "stem_type", "stem_chs", "group_size", "attn_layer", "attn_kwargs", "attn_gain",
        "width_factor", "bottle_ratio", "num_features", "ch_div", "reg", "extra_conv", "gamma_in_act", "same_padding",
        "std_conv_eps", "skipinit", "zero_init_fc", "act_layer",
    };

    public static NFNetConfig Read(string json, string name, NFNetConfig? template)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(name);
        JsonDocument document;
        try { document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new InvalidNFNetConfigException($"timm NfCfg '{name}': not valid JSON ({e.Message})", nameof(json)); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidNFNetConfigException($"timm NfCfg '{name}': expected a JSON object of NfCfg fields, got {root.ValueKind}", nameof(json));
            foreach (var property in root.EnumerateObject())
                if (!Fields.Contains(property.Name))
                    throw new InvalidNFNetConfigException(
                        $"timm NfCfg '{name}': unknown field '{property.Name}'; NfCfg's fields are {string.Join(", ", Fields)}", property.Name);

            var field = new Reader(root, name);
            var d = NfCfgDefaults;
            var attention = field.NullableString("attn_layer", null);
            var kwargs = field.Kwargs();
            var config = (template ?? TimmDefaults) with
            {
                Name = name,
                Depths = field.Ints("depths"),
                Widths = field.Ints("channels"),
                Alpha = field.Double("alpha", d.Alpha),
                StemType = field.NullableString("stem_type", d.StemType) ?? d.StemType,
                StemWidth = field.NullableInt("stem_chs"),
                GroupWidth = field.NullableInt("group_size") is { } g and > 0 ? g : null, // timm: falsy means dense
                AttentionLayer = string.IsNullOrEmpty(attention) ? null : attention,
                AttentionRatio = kwargs.Ratio ?? d.AttentionRatio,
                AttentionDivisor = kwargs.Divisor ?? d.AttentionDivisor,
                AttentionGain = field.Double("attn_gain", d.AttentionGain),
                WidthFactor = field.Double("width_factor", d.WidthFactor),
                BottleneckRatio = field.Double("bottle_ratio", d.BottleneckRatio),
                FinalFeatures = field.Int("num_features", d.FinalFeatures ?? 0),
                ChannelDivisor = field.Int("ch_div", d.ChannelDivisor),
                Reg = field.Bool("reg", d.Reg),
                ExtraConv = field.Bool("extra_conv", d.ExtraConv),
                GammaInActivation = field.Bool("gamma_in_act", d.GammaInActivation),
                Padding = field.Bool("same_padding", d.Padding == ConvPadding.Same) ? ConvPadding.Same : ConvPadding.Symmetric,
                StandardizationEps = field.Double("std_conv_eps", d.StandardizationEps ?? 1e-5),
                Standardization = WeightStandardization.Timm,
                SkipInit = field.Bool("skipinit", d.SkipInit),
                ZeroInitFc = field.Bool("zero_init_fc", d.ZeroInitFc),
                Activation = field.Activation("act_layer", d.Activation),
            };
            return config.Validate();
        }
    }

    private sealed class Reader(JsonElement root, string name)
    {
        private InvalidNFNetConfigException Wrong(string key, string expected, JsonElement value) =>
            new($"timm NfCfg '{name}': {key}: expected {expected}, got {value.GetRawText()}", key);

        private bool TryGet(string key, out JsonElement value) =>
            root.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Undefined;

        public int[] Ints(string key)
        {
            if (!TryGet(key, out var value))
                throw new InvalidNFNetConfigException($"timm NfCfg '{name}': {key} is required", key);
            if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > ModelLimits.MaxStages)
                throw Wrong(key, $"an array of at most {ModelLimits.MaxStages} integers", value);
            return value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Wrong(key, "integers", v)).ToArray();
        }

        public int Int(string key, int fallback) => NullableInt(key) ?? fallback;

        public int? NullableInt(string key)
        {
            if (!TryGet(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
            return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : throw Wrong(key, "an integer or null", value);
        }

        public double Double(string key, double fallback)
        {
            if (!TryGet(key, out var value)) return fallback;
            return value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw Wrong(key, "a number", value);
        }

        public bool Bool(string key, bool fallback)
        {
            if (!TryGet(key, out var value)) return fallback;
            return value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Wrong(key, "true or false", value),
            };
        }

        public string? NullableString(string key, string? fallback)
        {
            if (!TryGet(key, out var value)) return fallback;
            return value.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.String => value.GetString(),
                _ => throw Wrong(key, "a string or null", value),
            };
        }

        public ActivationKind Activation(string key, ActivationKind fallback)
        {
            if (NullableString(key, null) is not { } text) return fallback;
            try { return ActivationGammas.Parse(text); }
            catch (ArgumentException e) { throw new InvalidNFNetConfigException($"timm NfCfg '{name}': {key}: {e.Message}", key); }
        }

        /// <summary>SE's <c>rd_ratio</c> and <c>rd_divisor</c>; any other keyword would change the network, so it is refused.</summary>
        public (double? Ratio, int? Divisor) Kwargs()
        {
            if (!TryGet("attn_kwargs", out var value) || value.ValueKind == JsonValueKind.Null) return (null, null);
            if (value.ValueKind != JsonValueKind.Object) throw Wrong("attn_kwargs", "an object", value);
            double? ratio = null;
            int? divisor = null;
            foreach (var p in value.EnumerateObject())
            {
                if (p.Name == "rd_ratio" && p.Value.ValueKind == JsonValueKind.Number) ratio = p.Value.GetDouble();
                else if (p.Name == "rd_divisor" && p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var d)) divisor = d;
                else throw new InvalidNFNetConfigException(
                    $"timm NfCfg '{name}': attn_kwargs: '{p.Name}' = {p.Value.GetRawText()} is not supported (rd_ratio and rd_divisor are)", "attn_kwargs");
            }
            return (ratio, divisor);
        }
    }
}
