using System.Collections.Concurrent;
using NfNet.Devices;
using NfNet.Models;
using NfNet.Testing;
using NfNet.Training.Images;
using NfNet.Training.Prediction;
using NfNet.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>
/// The in-process predictor against the model itself: each prediction equals a one-image forward of the same file
/// through the model's own evaluation pipeline, under 8 concurrent callers batched together, while another thread
/// loads one of two weight sets into the model (every answer matches one set), and a bad image fails alone. The references
/// are float32, so the predictor is asked for float32 (Auto would take bf16 activations on a CPU with native bf16).
/// </summary>
public sealed class ImagePredictorTests
{
    private const int Resolution = 32;

    private static readonly string[] Files = Directory.GetFiles(ImageFixture.Train, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(12).ToArray();

    private static NFNet Model()
    {
        manual_seed(17);
        var model = new NFNet(FashionMnistRecipe.Model(24) with { NumClasses = 10, InChannels = 3 });
        using (no_grad()) foreach (var (name, p) in model.named_parameters()) if (name.EndsWith("skipinit_gain")) p.FillInPlace(0.7);
        return model;
    }

    // Logits of each file, one image at a time, through the model's evaluation pipeline.
    private static float[][] Reference(NFNet model)
    {
        var pipeline = ImagePipeline.ForModel(model.PretrainedConfig, Resolution, ChannelPolicy.Rgb);
        var buffer = new float[pipeline.SampleLength];
        model.eval();
        using var _ = no_grad();
        return Files.Select(f =>
        {
            pipeline.Load(f, new Random(0), buffer);
            using var x = tensor(buffer, new long[] { 1, 3, Resolution, Resolution });
            using var y = model.forward(x);
            return y.data<float>().ToArray();
        }).ToArray();
    }

    private static double Distance(float[] a, float[] b) => NanAware.Max(a.Zip(b, (x, y) => (double)Math.Abs(x - y)));

    [Fact]
    public void APredictionEqualsAOneImageForwardThroughTheModelsEvaluationPipeline()
    {
        Assert.Equal(12, Files.Length);
        using var model = Model();
        var expected = Reference(model);
        using var predictor = ImagePredictor.ForModel(model, new ImagePredictorOptions { TopK = 3, Precision = PrecisionMode.Float32 }, resolution: Resolution);
        var predictions = predictor.PredictFiles(Files);
        for (var i = 0; i < Files.Length; i++)
        {
            Assert.InRange(Distance(predictions[i].Logits, expected[i]), 0, 1e-4);
            var best = Array.IndexOf(expected[i], expected[i].Max());
            Assert.Equal(best, predictions[i].Top[0].Index);
            Assert.Equal(3, predictions[i].Top.Count);
            Assert.True(predictions[i].Top[0].Probability >= predictions[i].Top[1].Probability);
        }
    }

    [Fact]
    public async Task EightConcurrentCallersAreBatchedAndEachAnswerMatchesTheWeightsOfItsMoment()
    {
        using var model = Model();
        var first = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var expectFirst = Reference(model);
        Dictionary<string, Tensor> second;
        using (no_grad())
        using (var factor = tensor(0.8f))
            second = first.ToDictionary(kv => kv.Key, kv => kv.Value * factor);
        StateDictLoader.Load(model, second);
        var expectSecond = Reference(model);
        StateDictLoader.Load(model, first);
        var bytes = Files.Select(File.ReadAllBytes).ToArray();

        using var predictor = ImagePredictor.ForModel(model, new ImagePredictorOptions { MaxBatch = 8, MaxWait = TimeSpan.FromMilliseconds(50), Precision = PrecisionMode.Float32 }, resolution: Resolution);
        var failures = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var loads = 0;
        var loader = Task.Run(() =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                StateDictLoader.Load(model, i % 2 == 0 ? second : first);
                loads++;
                if (i % 4 == 0) { GC.Collect(); GC.WaitForPendingFinalizers(); }
            }
        });
        var callers = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            for (var r = 0; r < 6; r++)
            {
                var i = (c * 6 + r) % bytes.Length;
                var p = await predictor.PredictAsync(bytes[i], Files[i]);
                if (Distance(p.Logits, expectFirst[i]) > 1e-4 && Distance(p.Logits, expectSecond[i]) > 1e-4)
                    failures.Enqueue($"{Path.GetFileName(Files[i])}: matches neither weight set");
            }
        })).ToArray();
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromMinutes(3));
        stop.Cancel();
        await loader;
        Assert.Empty(failures);
        Assert.True(loads > 0);
        var (batches, images) = predictor.Counts;
        Assert.Equal(48, images);
        Assert.True(batches < images, $"{batches} forward passes for {images} images: nothing was batched");
        foreach (var t in first.Values.Concat(second.Values)) t.Dispose();
    }

    [Fact]
    public async Task ABadImageFailsItsOwnRequestOnly()
    {
        using var model = Model();
        using var predictor = ImagePredictor.ForModel(model, new ImagePredictorOptions { MaxWait = TimeSpan.FromMilliseconds(20) }, resolution: Resolution);
        var good = predictor.PredictFileAsync(Files[0]);
        var bad = predictor.PredictFileAsync(Path.Combine(ImageFixture.Damaged, "truncated.png"));
        var fromBytes = predictor.PredictAsync(new byte[] { 1, 2, 3 }, "three-bytes");
        Assert.Equal(10, (await good).Logits.Length);
        Assert.Contains("truncated.png", (await Assert.ThrowsAsync<ImageDecodeException>(() => bad)).Message);
        Assert.Contains("three-bytes", (await Assert.ThrowsAsync<ImageDecodeException>(() => fromBytes)).Message);
        predictor.Dispose();
        Assert.Throws<ObjectDisposedException>(() => { _ = predictor.PredictAsync(File.ReadAllBytes(Files[0])); });
    }
}
