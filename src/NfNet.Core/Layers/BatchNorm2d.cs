using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// Batch normalization over [N, C, H, W], the same module as TorchSharp's <c>nn.BatchNorm2d</c> (same state-dict keys
/// <c>weight, bias, running_mean, running_var, num_batches_tracked</c>, same arithmetic), except that counting the
/// batch in training mode does not leave a TorchSharp Scalar to the finalizer: TorchSharp 0.107's
/// <c>BatchNorm.forward</c> calls <c>num_batches_tracked.add_(1)</c> with an implicit Scalar (see
/// <see cref="Scalars"/>). The baselines (BN-ResNet, EfficientNetV2, CoAtNet) use it; it is a
/// <see cref="BatchNorm"/>, so code that accepts TorchSharp's batch norms (ONNX export, BN folding) accepts it.
/// </summary>
public sealed class BatchNorm2d : BatchNorm
{
    /// <summary>Creates the layer (the arguments of <c>torch.nn.BatchNorm2d</c>).</summary>
    /// <param name="numFeatures">C, the channels of an [N, C, H, W] input.</param>
    /// <param name="eps">Added to the variance (1e-5).</param>
    /// <param name="momentum">The running statistics' update weight (0.1); null for a cumulative average.</param>
    /// <param name="affine">Learnable weight and bias.</param>
    /// <param name="trackRunningStats">Keep running statistics for evaluation.</param>
    /// <param name="device">Where to create the tensors.</param>
    /// <param name="dtype">Their dtype.</param>
    public BatchNorm2d(long numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true,
        bool trackRunningStats = true, Device? device = null, ScalarType? dtype = null)
        : base(numFeatures, eps, momentum ?? 0.1, affine, trackRunningStats, device, dtype, nameof(BatchNorm2d))
    {
        this.momentum = momentum;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        var factor = momentum ?? 0.0;
        if (training && track_running_stats && num_batches_tracked is { } tracked)
        {
            tracked.add_(Scalars.One, Scalars.One);
            if (momentum is null) factor = 1.0 / tracked.ReadDouble();   // the cumulative average
        }
        var useBatchStatistics = training || (running_mean is null && running_var is null);
        var passRunning = !training || track_running_stats;
        return nn.functional.batch_norm(input, passRunning ? running_mean : null, passRunning ? running_var : null,
            weight, bias, useBatchStatistics, factor, eps);
    }

    /// <inheritdoc />
    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim != 4)
            throw new InvalidInputException($"BatchNorm2d expected input [N, {num_features}, H, W], got {InvalidInputException.Describe(Shapes.Of(input))}", nameof(input));
    }
}
