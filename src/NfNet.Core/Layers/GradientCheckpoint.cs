using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// Gradient checkpointing (Chen et al. 2016; PyTorch's <c>torch.utils.checkpoint</c>, timm's
/// <c>set_grad_checkpointing</c>): a module's forward runs without keeping its activations, and its backward runs the
/// forward again from the saved input to get them. Memory falls to the module's input and output; time rises by one
/// forward of the module. The random-number state is saved with the input and restored for the recomputation, so
/// stochastic depth and dropout drop the same samples in both passes and the gradients are the ones without
/// checkpointing.
/// </summary>
internal static class GradientCheckpoint
{
    /// <summary><paramref name="module"/>(<paramref name="input"/>), its activations recomputed in the backward pass.</summary>
    public static Tensor Run(nn.Module<Tensor, Tensor> module, Tensor input) => Recomputed.apply(input, module);

    private sealed class Recomputed : autograd.SingleTensorFunction<Recomputed>
    {
        private const string ModuleKey = "module";

        public override string Name => "GradientCheckpoint";

        // Runs with autograd off (TorchSharp's Function.apply): nothing of the module's graph is kept.
        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var input = (Tensor)vars[0];
            var module = (nn.Module<Tensor, Tensor>)vars[1];
            ctx.save_for_backward(new List<Tensor> { input, random.get_rng_state() });
            ctx.save_data(ModuleKey, module);
            return module.call(input);
        }

        // The forward again, with autograd on, from the saved input and random state; its backward with the incoming
        // gradient accumulates the parameters' gradients, and the input's is this function's.
        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var module = (nn.Module<Tensor, Tensor>)ctx.get_data(ModuleKey);
            using var scope = NewDisposeScope();
            var outer = random.get_rng_state();
            random.set_rng_state(saved[1]);
            try
            {
                using var grad = enable_grad();
                var input = saved[0].detach().requires_grad_(true);
                var output = module.call(input);
                output.backward(new[] { gradOutput });
                return new List<Tensor> { input.grad!.detach().DetachFromDisposeScope(), null! };
            }
            finally
            {
                random.set_rng_state(outer);
            }
        }
    }
}
