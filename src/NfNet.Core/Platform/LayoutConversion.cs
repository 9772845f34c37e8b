using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Platform;

/// <summary>
/// A copy of a 4-D activation into the channels-last (NHWC) or channels-first (NCHW) layout whose gradient comes back in
/// the layout of the source, as a custom autograd function. The convolution strategies of
/// <see cref="ConvolutionBackend"/> change an activation's layout on its way into a kernel; this keeps the backward pass
/// in the forward pass's layouts.
/// </summary>
/// <remarks>
/// <para>Why: libtorch differentiates a layout change (<c>permute</c> + <c>contiguous</c>) as the identity, so the
/// gradient of the source leaves in the target's layout. Where the source is also read by other operations (the stem's
/// activation before its first channels-last convolution; every activation on a map small enough for the 1×1
/// convolutions to be matrix products), their gradients then meet the activation, and each other, in two layouts, and
/// libtorch's element-wise kernels fall off their vectorized path. Measured on the 2-core Intel Xeon (AMX) with
/// libtorch 2.10, bf16, [32, 256, 48, 48]: GELU forward + backward 67 ms with both in one layout, 386 ms with the
/// gradient in the other (float32 91 / 630 ms); an add 19 against 48–51 ms, and in place, as autograd sums two gradients
/// of one tensor, 6.7 against 68 ms. In F0's mixed-precision step at 128 px, batch 8 that in-place path was 2.7 % of
/// perf's samples before and 1.4 % after (benchmarks/README.md, "Gradients in the forward pass's layouts").</para>
/// <para>The cost is one copy of the gradient where it arrives in the other layout, as the forward pass paid one copy of
/// the activation. A source in neither layout (a strided view) gets its gradient as libtorch makes it. With grad mode on
/// in the backward pass (<c>create_graph</c>) the copy is an ordinary differentiable operation, so higher-order gradients
/// go through.</para>
/// </remarks>
internal sealed class LayoutConversion : autograd.SingleTensorFunction<LayoutConversion>
{
    private const string SourceKey = "source";

    private enum Layout { ChannelsFirst, ChannelsLast, Other }

    /// <inheritdoc />
    public override string Name => nameof(LayoutConversion);

    /// <summary>The values of the 4-D <paramref name="x"/> laid out channels-last: <paramref name="x"/> itself (a new
    /// handle) when it already is, else one copy whose gradient comes back in <paramref name="x"/>'s layout.</summary>
    public static Tensor ToChannelsLast(Tensor x) =>
        ChannelsLastConvolution.IsChannelsLast(x) ? x.alias() : Convert(x, Layout.ChannelsLast);

    /// <summary>The values of <paramref name="x"/> laid out channels-first (contiguous): <paramref name="x"/> itself (a
    /// new handle) when it already is, else one copy whose gradient comes back in <paramref name="x"/>'s layout.</summary>
    public static Tensor ToChannelsFirst(Tensor x) =>
        x.is_contiguous() ? x.alias() : Convert(x, Layout.ChannelsFirst);

    private static Tensor Convert(Tensor x, Layout target) =>
        is_grad_enabled() && x.requires_grad && x.dim() == 4 ? apply(x, target) : Copy(x, target);

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, target) = ((Tensor)vars[0], (Layout)vars[1]);
        ctx.save_data(SourceKey, LayoutOf(x));
        var output = Copy(x, target);
        AutogradResults.KeepUntilNextCall(output);
        return output;
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var source = (Layout)ctx.get_data(SourceKey);
        var gradient = source == Layout.Other || LayoutOf(gradOutput) == source ? gradOutput.alias() : Copy(gradOutput, source);
        AutogradResults.KeepUntilNextCall(gradient);
        return new List<Tensor> { gradient, null! }; // the target layout is not a tensor
    }

    private static Layout LayoutOf(Tensor x) =>
        x.is_contiguous() ? Layout.ChannelsFirst : ChannelsLastConvolution.IsChannelsLast(x) ? Layout.ChannelsLast : Layout.Other;

    private static Tensor Copy(Tensor x, Layout target)
    {
        if (target != Layout.ChannelsLast) return x.contiguous();
        using var nhwc = x.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }
}
