using NfNet.Devices;
using NfNet.Platform;
using NfNet.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Training;

/// <summary>Top-1, top-5 and cross-entropy of a classifier over a data source, in eval mode without gradients (timm's
/// <c>validate.py</c> numbers); the model's mode is restored afterwards, also when evaluation throws.</summary>
public static class ModelEvaluation
{
    /// <summary>Top-1/top-5 accuracy and mean cross-entropy of <paramref name="model"/> on <paramref name="data"/>, in
    /// batches of <paramref name="batchSize"/>, computed in <paramref name="precision"/>'s compute type (float32 logits).</summary>
    /// <exception cref="ArgumentException">The data source is empty.</exception>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, IDataSource data, int batchSize = 64,
        PrecisionMode precision = PrecisionMode.Float32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var (top1, top5, loss, count) = Sums(model, data, batchSize, precision);
        if (count == 0) throw new ArgumentException("the data source has no samples", nameof(data));
        return new EvaluationResult(top1 / count, top5 / count, loss / count, count);
    }

    /// <summary>The sums over <paramref name="data"/> in batches of <paramref name="batchSize"/>, computed in the compute
    /// type of <paramref name="precision"/> with float32 logits.</summary>
    internal static (double Top1, double Top5, double Loss, long Count) Sums(nn.Module<Tensor, Tensor> model, IDataSource data, int batchSize, PrecisionMode precision)
    {
        var computeType = Precision.ComputeType(Precision.Choose(precision, model.parameters().FirstOrDefault()?.device).Mode);
        var device = model.parameters().First().device;
        var wasTraining = model.training;
        model.eval();
        double top1 = 0, top5 = 0, loss = 0;
        long count = 0;
        try
        {
            using var _ = no_grad();
            foreach (var (images, labels) in data.Batches(batchSize, shuffle: false))
            {
                using var ownedImages = images;
                using var ownedLabels = labels;
                using var scope = NewDisposeScope();
                var y = labels.to(device);
                var logits = model.call(images.to(device).to(computeType)).to(ScalarType.Float32);
                loss += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).ReadDouble();
                top1 += logits.argmax(1).eq(y).sum().ReadInt64();
                var k = Math.Min(5, logits.size(1));
                top5 += logits.topk((int)k, 1).indexes.eq(y.unsqueeze(1)).any(1).sum().ReadInt64();
                count += labels.size(0);
            }
        }
        finally
        {
            if (wasTraining) model.train(); // also when evaluation throws: the next step must not run in eval mode
        }
        return (top1, top5, loss, count);
    }
}
