using MathNet.Numerics.LinearAlgebra;
using NfNet.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

public sealed class LastMiniBatchDistillationTests
{
    private static double[,] Logits(int seed, int rows, int classes)
    {
        var r = new Random(seed);
        var a = new double[rows, classes];
        for (var i = 0; i < rows; i++) for (var j = 0; j < classes; j++) a[i, j] = r.NextDouble() * 4 - 2;
        return a;
    }

    private static Vector<double> LogSoftmax(Vector<double> z)
    {
        var max = z.Maximum();
        var lse = max + Math.Log(z.Map(v => Math.Exp(v - max)).Sum());
        return z.Map(v => v - lse);
    }

    [Fact]
    public void LossOnAFixedPairOfBatchesEqualsAHandComputation()
    {
        const int b = 3, c = 4;
        const double tau = 3, alpha = 1;
        var teacher = Logits(1, b, c);      // the previous batch's logits at step t−1
        var studentPrev = Logits(2, b, c);  // the same images at step t
        var fresh = Logits(3, b, c);        // the new batch at step t
        long[] yPrev = { 0, 3, 1 }, yNew = { 2, 2, 0 };

        // By hand, in double: CE over the 2b concatenated rows (mean), KL summed over classes and averaged over b.
        var ce = 0.0;
        for (var i = 0; i < b; i++)
        {
            ce -= LogSoftmax(Matrix<double>.Build.DenseOfArray(studentPrev).Row(i))[(int)yPrev[i]];
            ce -= LogSoftmax(Matrix<double>.Build.DenseOfArray(fresh).Row(i))[(int)yNew[i]];
        }
        ce /= 2 * b;
        var kl = 0.0;
        for (var i = 0; i < b; i++)
        {
            var lt = LogSoftmax(Matrix<double>.Build.DenseOfArray(teacher).Row(i) / tau);
            var ls = LogSoftmax(Matrix<double>.Build.DenseOfArray(studentPrev).Row(i) / tau);
            for (var j = 0; j < c; j++) kl += Math.Exp(lt[j]) * (lt[j] - ls[j]);
        }
        var expected = ce + alpha * tau * tau * kl / b;

        using var dlb = new LastMiniBatchDistillation(tau, alpha);
        using var images = zeros(b, 1, 2, 2);
        dlb.Remember(images, tensor(yPrev), tensor(teacher).to(ScalarType.Float32));
        using var student = tensor(studentPrev).to(ScalarType.Float32).requires_grad_();
        using var loss = dlb.Loss(tensor(fresh).to(ScalarType.Float32), tensor(yNew), student);
        Assert.Equal(expected, loss.ReadDouble(), 5);
        // Gradients reach the student's logits, never the stored teacher.
        loss.backward();
        Assert.NotNull(student.grad);
        Assert.False(dlb.Previous!.Value.Logits.requires_grad);
    }

    [Fact]
    public void FirstStepIsPlainCrossEntropyAndOnlyOneBatchIsKept()
    {
        using var dlb = new LastMiniBatchDistillation();
        using var logits = tensor(Logits(4, 2, 3)).to(ScalarType.Float32).requires_grad_();
        using var y = tensor(new long[] { 1, 2 });
        Assert.Equal(nn.functional.cross_entropy(logits, y).ReadDouble(), dlb.Loss(logits, y, null).ReadDouble(), 6);

        dlb.Remember(zeros(2, 1, 2, 2), y, logits);
        var first = dlb.Previous!.Value;
        Assert.False(first.Logits.requires_grad);                  // stored detached
        dlb.Remember(ones(2, 1, 2, 2), y, logits.Times(2L));
        Assert.True(first.Images.IsInvalid && first.Logits.IsInvalid); // the older batch was disposed
        Assert.Equal(1.0, dlb.Previous!.Value.Images.mean().ReadDouble());
        Assert.Throws<ArgumentException>(() => dlb.Loss(logits, y, zeros(3, 3)));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void TheTrainerTrainsWithDlbAndRefusesSam()
    {
        using var train = Slice.Train(1024);
        using var test = Slice.Test(500);
        TorchSharp.torch.manual_seed(0);
        using var model = new NfNet.Models.NFNet(FashionMnistRecipe.Model(32));
        var options = FashionMnistRecipe.Options(epochs: 2, batchSize: 64) with { PeakLearningRate = 0.4, DlbAlpha = 1.0 };
        using var trainer = new Trainer(model, 10, options);
        var history = trainer.Fit(train, test);
        Assert.All(history, h => Assert.True(double.IsFinite(h.TrainLoss)));
        Assert.InRange(history[^1].Test!.Top1, 0.3, 1.0);           // well above chance (10 %) after 32 steps
        Assert.Throws<ArgumentException>(() => new Trainer(model, 10, options with { SamRho = 0.05 }));
    }
}
