namespace NfNet.Training.Prediction;

/// <summary>One of an image's most probable classes.</summary>
/// <param name="Index">The class index.</param>
/// <param name="Name">Its label, when the predictor has labels.</param>
/// <param name="Probability">Its softmax probability.</param>
public sealed record PredictedClass(int Index, string? Name, float Probability);

/// <summary>An image's prediction: its most probable classes, best first, and its logits.</summary>
/// <param name="Top">The top-k classes, most probable first (ties by index).</param>
/// <param name="Logits">Every class's logit.</param>
public sealed record Prediction(IReadOnlyList<PredictedClass> Top, float[] Logits);
