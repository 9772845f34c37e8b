using System.Runtime.Intrinsics;
using NfNet.Platform;
using TorchSharp;
using static TorchSharp.torch;
using Kernels = NfNet.Layers.WeightStandardizationKernels;

namespace NfNet.Layers;

/// <summary>
/// Scaled weight standardization of a CPU float32 or bf16 weight as one custom autograd function: two passes over the
/// weight forward (<see cref="WeightStandardizationKernels"/>) and two over the weight and its gradient backward, from
/// the statistics the forward pass saved, instead of libtorch's batch-norm on a <c>[1, O, fan_in]</c> view (slow in
/// float32) and, in mixed precision, a separate cast: a float32 weight is standardized straight into bf16.
/// </summary>
/// <remarks>
/// <para>Results equal <see cref="StandardizationFormula.Standardize"/> to float32 rounding (a test compares both with a
/// float64 reference, gradients included). Higher-order gradients (<c>create_graph</c>) are computed through the plain
/// libtorch form inside the backward pass, so they stay exact.</para>
/// <para>Lifetimes. TorchSharp's custom-function bridge hands the handles of the tensors <c>forward</c> and
/// <c>backward</c> return to libtorch after the managed call has returned, so a wrapper the finalizer could free in
/// between would be read after free; <see cref="AutogradResults"/> keeps each call's results until the next. The function's inputs are views of the parameters, so the weight's gradient reaches
/// <c>AccumulateGrad</c> through a view node as a tensor no one else holds, and is taken over instead of copied.</para>
/// </remarks>
internal sealed class FusedWeightStandardization : autograd.SingleTensorFunction<FusedWeightStandardization>
{
    private const string StatisticsKey = "statistics";
    private const string SettingsKey = "settings";

    [ThreadStatic] private static long t_forwardPasses;
    [ThreadStatic] private static long t_backwardPasses;

    /// <summary>Standardizations the fused kernels computed on the calling thread (diagnostics and tests).</summary>
    public static long ForwardPasses => t_forwardPasses;

    /// <summary>Backward passes through the fused kernels on the calling thread (CPU backward runs on the thread that
    /// calls <c>backward</c>).</summary>
    public static long BackwardPasses => t_backwardPasses;

    /// <summary>The data address of the weight gradient this thread's last fused backward pass wrote (tests check that
    /// autograd takes it over as the parameter's gradient instead of copying it).</summary>
    internal static IntPtr LastWeightGradient => t_lastWeightGradient;

    [ThreadStatic] private static IntPtr t_lastWeightGradient;

    private sealed record Settings(StandardizationFormula Formula, long[] Shape, ScalarType OutputType);

    /// <inheritdoc />
    public override string Name => nameof(FusedWeightStandardization);

    /// <summary>
    /// Null when <paramref name="weight"/> and <paramref name="gain"/> can be standardized into
    /// <paramref name="outputType"/> by the fused kernels, else why not: the CPU needs 256-bit vectors (x64 AVX2), both
    /// must be contiguous CPU tensors of one dtype, float32 or bf16, and the output the same dtype or, from float32, bf16.
    /// </summary>
    public static string? Ineligibility(Tensor weight, Tensor gain, ScalarType outputType)
    {
        if (!Vector256.IsHardwareAccelerated) return "this CPU has no 256-bit vector hardware (x64 AVX2)";
        if (weight.device_type != DeviceType.CPU || gain.device_type != DeviceType.CPU) return "the weight is not on the CPU";
        if (weight.dtype is not (ScalarType.Float32 or ScalarType.BFloat16)) return $"the weight is {weight.dtype}, not float32 or bf16";
        if (gain.dtype != weight.dtype) return $"the gain is {gain.dtype}, the weight {weight.dtype}";
        if (outputType != weight.dtype && !(weight.dtype == ScalarType.Float32 && outputType == ScalarType.BFloat16))
            return $"the weight is {weight.dtype} and the convolution computes in {outputType}";
        if (!weight.is_contiguous() || !gain.is_contiguous()) return "the weight or gain is not contiguous";
        if (weight.numel() == 0 || gain.numel() != weight.size(0)) return "the weight is empty or the gain does not have one value per unit";
        return null;
    }

    /// <summary>
    /// <see cref="Ineligibility"/> plus the library's default policy: bf16 weights (pure bf16 training) stay on
    /// libtorch, whose bf16 batch-norm measured as fast as the kernels in whole training steps (alternated in one
    /// process, with the kernels on libtorch's OpenMP team too: 451 against 448 ms at 128 px, batch 8, 3,029 against
    /// 3,047 ms at 192 px, batch 32), while the kernels made float32 and mixed-precision steps faster
    /// (benchmarks/README.md). Re-measured on an Intel AMX CPU in lockstep rings: the kernels 2 % faster at 128 px,
    /// batch 8 and 2 % slower at 192 px, batch 32, so the policy stands.
    /// </summary>
    public static string? DefaultIneligibility(Tensor weight, Tensor gain, ScalarType outputType) =>
        Ineligibility(weight, gain, outputType)
        ?? (weight.dtype == ScalarType.BFloat16 ? "bf16 weights standardize as fast through libtorch's batch-norm (measured), so they keep it" : null);

    /// <summary>
    /// The standardized weight in <paramref name="outputType"/>, differentiable with respect to
    /// <paramref name="weight"/> and <paramref name="gain"/> when grad mode is on. The caller has checked
    /// <see cref="Ineligibility"/>.
    /// </summary>
    public static Tensor Standardize(Tensor weight, Tensor gain, StandardizationFormula formula, ScalarType outputType)
    {
        var settings = new Settings(formula, Shapes.Of(weight), outputType);
        var units = weight.size(0);
        if (!is_grad_enabled() || !(weight.requires_grad || gain.requires_grad))
            return Forward(weight, gain, settings, new Kernels.RowStatistics(units));
        // Views, so that the gradients pass through a view node on their way to the parameters (see remarks).
        using var rows = weight.view(units, -1);
        using var gains = gain.view(units);
        return apply(rows, gains, settings);
    }

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (rows, gains, settings) = ((Tensor)vars[0], (Tensor)vars[1], (Settings)vars[2]);
        var statistics = new Kernels.RowStatistics(rows.size(0));
        var output = Forward(rows, gains, settings, statistics);
        ctx.save_for_backward(new List<Tensor> { rows, gains });
        ctx.save_data(StatisticsKey, statistics);
        ctx.save_data(SettingsKey, settings);
        AutogradResults.KeepUntilNextCall(output);
        return output;
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        using var rows = saved[0];
        using var gains = saved[1];
        var settings = (Settings)ctx.get_data(SettingsKey);
        List<Tensor> gradients;
        if (is_grad_enabled())
        {
            // create_graph: the gradients must be differentiable themselves, so take them through the plain form (whose graph
            // the second backward pass traverses, hence retained, as PyTorch's retain_graph defaults to create_graph).
            using var standardizedRows = settings.Formula.Standardize(rows, gains);
            using var standardized = standardizedRows.reshape(Shapes.Of(gradOutput));
            gradients = autograd.grad(new[] { standardized }, new[] { rows, gains }, new[] { gradOutput }, retain_graph: true, create_graph: true).ToList();
        }
        else
        {
            using var g = gradOutput.is_contiguous() ? gradOutput.alias() : gradOutput.contiguous();
            var dw = empty_like(rows);
            var dgain = empty_like(gains);
            Backward(g, rows, gains, dw, dgain, (Kernels.RowStatistics)ctx.get_data(StatisticsKey));
            gradients = new List<Tensor> { dw, dgain };
        }
        AutogradResults.KeepUntilNextCall(gradients.ToArray());
        gradients.Add(null!); // the settings are not a tensor
        return gradients;
    }

    private static Tensor Forward(Tensor weight, Tensor gain, Settings settings, Kernels.RowStatistics statistics)
    {
        t_forwardPasses++;
        var output = empty(settings.Shape, settings.OutputType);
        var (w, g, y) = (Pointer(weight), Pointer(gain), Pointer(output));
        var (units, fan) = (weight.size(0), weight.numel() / weight.size(0));
        var f = settings.Formula;
        switch (weight.dtype, settings.OutputType)
        {
            case (ScalarType.Float32, ScalarType.Float32):
                Kernels.Forward<Kernels.Float32, Kernels.Float32>(w, g, y, units, fan, f, statistics); break;
            case (ScalarType.Float32, ScalarType.BFloat16):
                Kernels.Forward<Kernels.Float32, Kernels.BFloat16>(w, g, y, units, fan, f, statistics); break;
            default:
                Kernels.Forward<Kernels.BFloat16, Kernels.BFloat16>(w, g, y, units, fan, f, statistics); break;
        }
        GC.KeepAlive(weight);
        GC.KeepAlive(gain);
        return output;
    }

    private static void Backward(Tensor gradOutput, Tensor weight, Tensor gain, Tensor dw, Tensor dgain,
        Kernels.RowStatistics statistics)
    {
        t_backwardPasses++;
        var (g, w, gn, dW, dG) = (Pointer(gradOutput), Pointer(weight), Pointer(gain), Pointer(dw), Pointer(dgain));
        t_lastWeightGradient = dW;
        var (units, fan) = (weight.size(0), weight.numel() / weight.size(0));
        switch (gradOutput.dtype, weight.dtype)
        {
            case (ScalarType.Float32, ScalarType.Float32):
                Kernels.Backward<Kernels.Float32, Kernels.Float32>(g, w, gn, dW, dG, units, fan, statistics); break;
            case (ScalarType.BFloat16, ScalarType.Float32):
                Kernels.Backward<Kernels.BFloat16, Kernels.Float32>(g, w, gn, dW, dG, units, fan, statistics); break;
            default:
                Kernels.Backward<Kernels.BFloat16, Kernels.BFloat16>(g, w, gn, dW, dG, units, fan, statistics); break;
        }
        GC.KeepAlive(gradOutput);
        GC.KeepAlive(weight);
        GC.KeepAlive(gain);
    }

    private static IntPtr Pointer(Tensor t) => TorchSharpInternals.DataPointer(t);
}
