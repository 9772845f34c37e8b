using NfNet.Platform;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim;

/// <summary>Finds weight decay that an optimizer adds to the gradient itself (coupled decay, as SGD and Adam do).</summary>
internal static class InnerWeightDecay
{
    /// <summary>
    /// The largest coupled weight decay among <paramref name="optimizer"/>'s groups and defaults, or 0. AdamW's
    /// decay is decoupled (it shrinks the weights, not the gradient), so it does not count.
    /// </summary>
    public static double Coupled(optim.Optimizer optimizer)
    {
        var innermost = OptimizerDecorator.Innermost(optimizer);
        if (innermost is AdamW) return 0;
        var max = 0.0;
        foreach (var group in innermost.ParamGroups.OfType<ParamGroup>())
            max = Math.Max(max, TorchSharpInternals.WeightDecay(group.Options));
        max = Math.Max(max, TorchSharpInternals.DefaultWeightDecay(innermost));
        return max;
    }
}
