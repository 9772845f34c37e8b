using NfNet.Models;
using NfNet.Training.Checkpoints;
using NfNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training;

/// <summary>
/// Starts fine-tuning from published or earlier weights: loads timm safetensors (<c>dm_nfnet_f0</c> …, any registry
/// model's timm names) or an NfNet.NET training checkpoint (its <c>model.*</c> weights, after the checksum is verified)
/// into a model built for the new task. Everything must fit except the classifier: when the class count differs, the
/// classifier keeps its fresh initialisation (timm's <c>reset_classifier</c>), which the report says.
/// </summary>
public static class PretrainedWeights
{
    /// <summary>Loads <paramref name="path"/> into <paramref name="model"/>'s backbone (and classifier when it fits).</summary>
    /// <returns>What was loaded; <see cref="LoadReport.ShapeMismatched"/> and <see cref="LoadReport.Missing"/> name only classifier tensors.</returns>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="CheckpointFormatException">An NfNet.NET checkpoint that does not verify.</exception>
    /// <exception cref="WeightFileException">A damaged safetensors file.</exception>
    /// <exception cref="StateDictMismatchException">Backbone tensors are missing, unexpected or of another shape (weights of
    /// another architecture or size); the model is unchanged.</exception>
    public static LoadReport LoadBackbone(ImageClassifier model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"no weights file at '{path}'", path);
        var header = SafetensorsReader.ReadHeader(path);
        Dictionary<string, Tensor> weights;
        if (header.Metadata.ContainsKey("nfnet.checkpoint"))
        {
            TrainingCheckpoint.Verify(path);
            var all = SafetensorsReader.Load(path);
            weights = new Dictionary<string, Tensor>();
            foreach (var (name, t) in all)
            {
                if (name.StartsWith("model.", StringComparison.Ordinal)) weights[name["model.".Length..]] = t;
                else t.Dispose();
            }
        }
        else weights = SafetensorsReader.Load(path);
        try
        {
            // Everything must fit but the classifier, which keeps its initialisation when its shape differs.
            var classifierNames = model.ClassifierParameters().Select(p => p.Name).ToHashSet();
            var report = StateDictLoader.Compare(model, weights);
            bool Backbone(string entry) => !classifierNames.Contains(entry.Split(':')[0]);
            var missing = report.Missing.Where(Backbone).ToList();
            var mismatched = report.ShapeMismatched.Where(Backbone).ToList();
            if (missing.Count + report.Unexpected.Count + mismatched.Count > 0)
                throw new StateDictMismatchException(missing, report.Unexpected, mismatched);
            return StateDictLoader.Load(model, weights, strict: false);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    /// <summary>Freezes everything but the classifier (linear probing): <c>requires_grad = false</c> on the backbone's
    /// parameters. The optimizer skips parameters without gradients.</summary>
    public static void FreezeBackbone(ImageClassifier model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var classifier = model.ClassifierParameters().Select(p => p.Name).ToHashSet();
        foreach (var (name, p) in model.named_parameters()) p.requires_grad = classifier.Contains(name);
    }
}
