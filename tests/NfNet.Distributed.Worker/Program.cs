// Scenarios the distributed tests run under `mpirun -np N` (and without it, as a world of one). Each rank prints
// lines "rank <r>: <key> <value>" that the tests read; any failure exits non-zero.
//   collectives            barrier, broadcast, all-reduce (float, double), all-gather against hand-computed values
//   trainer <sam:0|1>      3 Trainer steps on N ranks (float32) vs one process with N× the batch (rank 0 computes both)
//   step64 <sam:0|1>       3 AGC/WD/Nesterov(/SAM) steps in float64 with the gradient averager vs one process
//   mismatch               rank 1 builds a wider model: every rank must refuse to start
//   throw                  rank 1 throws while the others wait in a barrier: all must stop
//   allreduce-time <n>     seconds per in-place all-reduce of n float32 values (median of 5)
//   sync-f0                NFNet-F0's gradient (71.5 M values): GradientAverager.Average vs one raw all-reduce (medians)
//   overlap <F0|small> <batch> <px> <stage|block> <steps>
//                          training passes (mixed bf16), interleaved: no sync, GradientAverager after the backward pass,
//                          and the overlap prototype (OverlapProbe.cs) reducing from markers at stage or block inputs
//                          during it; medians, then one pass of each compared value for value
using System.Diagnostics;
using NfNet.Distributed;
using NfNet.Distributed.Worker;
using NfNet.Models;
using NfNet.Optim;
using NfNet.Platform;
using NfNet.Testing;
using NfNet.Training;
using NfNet.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

torch.set_num_threads(1);
using var comm = Communicator.FromEnvironment();
var rank = comm.Rank;
void Say(string key, object value) => Console.WriteLine($"rank {rank}: {key} {value}");
Say("world", $"{comm.WorldSize} {comm.Backend}");
// Every temporary tensor of a scenario stays owned until the process ends. A TorchSharp tensor that nothing references
// can otherwise be freed by its finalizer while libtorch still reads it (docs/platform.md, "TorchSharp Scalars and the
// garbage collector"); the test projects get the same protection per test from tests/Shared/TorchSharpTemporaries.cs.
// The scenarios' loops keep their own per-step scopes, so memory stays bounded.
using var temporaries = NewDisposeScope();
try
{
    switch (args[0])
    {
        case "collectives": Collectives(); break;
        case "trainer": TrainerEquivalence(args[1] == "1"); break;
        case "step64": StepEquivalence64(args[1] == "1"); break;
        case "mismatch": Mismatch(); break;
        case "throw":
            // Rank 1 fails before a collective the others are already waiting in.
            if (rank == 1) throw new InvalidOperationException("injected failure on rank 1");
            comm.Barrier();
            break;
        case "allreduce-time": AllReduceTime(int.Parse(args[1])); break;
        case "sync-f0": SyncF0(); break;
        case "overlap": Overlap(args[1], int.Parse(args[2]), int.Parse(args[3]), args[4], int.Parse(args[5])); break;
        default: throw new ArgumentException($"unknown scenario {args[0]}");
    }
    comm.Barrier();
    Say("done", "ok");
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"rank {rank}: FAILED {e}");
    if (comm.WorldSize > 1) comm.Abort(1); // the others must not wait for this rank forever
    return 1;
}

void Collectives()
{
    int w = comm.WorldSize;
    comm.Barrier();
    var bytes = rank == 0 ? new byte[] { 1, 2, 3, 250 } : new byte[4];
    comm.Broadcast(bytes);
    Check(bytes.SequenceEqual(new byte[] { 1, 2, 3, 250 }), "broadcast");
    // Σ_r (r + 1)·i = i·W(W+1)/2 for every element i; exact in float32 for these sizes.
    var floats = Enumerable.Range(0, 1000).Select(i => (float)((rank + 1) * i)).ToArray();
    comm.AllReduceSum(floats);
    Check(floats.Select((v, i) => v == i * w * (w + 1) / 2f).All(b => b), "allreduce float");
    var doubles = new[] { Math.PI * (rank + 1), 1e-300 };
    comm.AllReduceSum(doubles);
    Check(Math.Abs(doubles[0] - Math.PI * w * (w + 1) / 2) < 1e-12 && doubles[1] == 1e-300 * w, "allreduce double");
    Check(comm.AllGather(10L * rank + 7).SequenceEqual(Enumerable.Range(0, w).Select(r => 10L * r + 7)), "allgather");
    Say("collectives", "ok");
}

void Check(bool ok, string what)
{
    if (!ok) throw new InvalidOperationException($"{what} gave a wrong result");
}

NFNetConfig SmallModel(int width = 32) => FashionMnistRecipe.Model(width);

TensorDataSource Data(int count)
{
    var generator = new Generator(1234);
    return new TensorDataSource(randn(new long[] { count, 1, 32, 32 }, generator: generator), randint(0, 10, new long[] { count }, generator: generator));
}

TrainerOptions Options(int globalBatch, bool sam, ICommunicator? communicator) => FashionMnistRecipe.Options(1, globalBatch, 0) with
{
    Augment = null,
    Precision = NfNet.Devices.PrecisionMode.Float32,
    SamRho = sam ? 0.05 : 0,
    MaxSteps = 3,
    WarmupEpochs = 0.3,
    Communicator = communicator,
};

void TrainerEquivalence(bool sam)
{
    const int perRank = 8;
    var global = perRank * comm.WorldSize;
    using var data = Data(3 * global);
    manual_seed(rank + 100); // different initial weights per rank: the broadcast must make them rank 0's
    using var model = new NFNet(SmallModel());
    using (var trainer = new Trainer(model, Options(global, sam, comm)))
    {
        var history = trainer.Fit(data);
        Say("steps", trainer.Step);
        Say("train_loss", history[0].TrainLoss.ToString("R"));
    }
    var hashes = comm.AllGather(DataParallel.ValueHash(model));
    Say("identical", hashes.All(h => h == hashes[0]));
    if (rank != 0) return;
    manual_seed(100);
    using var reference = new NFNet(SmallModel());
    using (var single = new Trainer(reference, Options(global, sam, null)))
    {
        var history = single.Fit(data);
        Say("reference_loss", history[0].TrainLoss.ToString("R"));
    }
    Say("max_param_diff", MaxDiff(model, reference).ToString("R"));
}

double MaxDiff(nn.Module a, nn.Module b)
{
    var other = b.state_dict();
    return NanAware.Max(a.state_dict().Select(p => (p.Value - other[p.Key]).abs().max().ReadDouble()));   // torch max propagates NaN; LINQ Max would skip it
}

void StepEquivalence64(bool sam)
{
    const int perRank = 4;
    var w = comm.WorldSize;
    var generator = new Generator(99);
    var x = randn(new long[] { 3, perRank * w, 1, 32, 32 }, ScalarType.Float64, generator: generator);
    var y = randint(0, 10, new long[] { 3, perRank * w }, generator: generator);
    manual_seed(7);
    using var model = new NFNet(SmallModel());
    model.to(ScalarType.Float64);
    DataParallel.BroadcastParameters(model, comm);
    using var averager = new GradientAverager(model, comm);
    Train(model, x.narrow(1, rank * perRank, perRank), y.narrow(1, rank * perRank, perRank), averager.Average, sam);
    var hashes = comm.AllGather(DataParallel.ValueHash(model));
    Say("identical", hashes.All(h => h == hashes[0]));
    if (rank != 0) return;
    manual_seed(7);
    using var reference = new NFNet(SmallModel());
    reference.to(ScalarType.Float64);
    Train(reference, x, y, () => { }, sam);
    Say("max_param_diff", MaxDiff(model, reference).ToString("R"));
}

// Three steps of the recipe's optimizer (AGC λ 0.02, weight decay after clipping, Nesterov SGD; SAM around it) on the
// given batches, with the gradients synchronised after every backward.
void Train(NFNet model, Tensor images, Tensor labels, Action synchronize, bool sam)
{
    var options = FashionMnistRecipe.Options(1, 32, 0) with { PeakLearningRate = 0.1 };
    var optimizer = TrainerOptimizers.Recipe(model, options);
    if (sam) optimizer = new SharpnessAwareMinimization(optimizer, 0.05);
    for (var step = 0; step < 3; step++)
    {
        using var scope = NewDisposeScope();
        var (xb, yb) = (images[step], labels[step]);
        Tensor Closure()
        {
            var loss = nn.functional.cross_entropy(model.call(xb), yb);
            loss.backward();
            synchronize();
            return loss;
        }
        optimizer.zero_grad();
        if (sam) optimizer.step(Closure);
        else
        {
            Closure();
            optimizer.step();
        }
    }
}

void Mismatch()
{
    manual_seed(0);
    using var model = new NFNet(SmallModel(rank == 1 ? 48 : 32));
    try
    {
        using var trainer = new Trainer(model, Options(8 * comm.WorldSize, false, comm));
        Say("mismatch", "NOT DETECTED");
    }
    catch (RankMismatchException e)
    {
        Say("mismatch", "refused: " + e.Message);
    }
}

// The median of runs after the first (which sets up MPI's shared-memory transport, or warms the caches).
double MedianAfterFirst(IEnumerable<double> runs)
{
    var sorted = runs.Skip(1).OrderBy(x => x).ToList();
    return sorted[sorted.Count / 2];
}

// Seconds a collective takes: 6 runs, each started on every rank at once (after a barrier); the median after the first.
double TimeCollective(Action collective) => MedianAfterFirst(Enumerable.Range(0, 6).Select(_ =>
{
    comm.Barrier();
    var clock = Stopwatch.StartNew();
    collective();
    return clock.Elapsed.TotalSeconds;
}).ToList());

void AllReduceTime(int count)
{
    var buffer = new float[count];
    Say("allreduce_seconds", TimeCollective(() => comm.AllReduceSum(buffer)).ToString("R"));
}


void SyncF0()
{
    using var model = NFNet.Create("F0");
    Tensor total = zeros(1);
    foreach (var p in model.parameters()) total = total.Plus(p.sum());
    total.backward(); // every gradient is ones: the averager has a real F0-sized gradient to move
    using var averager = new GradientAverager(model, comm);
    Say("gradient_values", averager.Elements);
    Say("buckets", averager.BucketCount);
    Say("average_seconds", TimeCollective(averager.Average).ToString("R"));
    var buffer = new float[averager.Elements];
    Say("raw_allreduce_seconds", TimeCollective(() => comm.AllReduceSum(buffer)).ToString("R"));
    Check(model.parameters().All(p => p.grad!.eq(Scalars.One).all().item<bool>()), "averaged ones");
}


void Overlap(string variant, int batch, int resolution, string granularity, int steps)
{
    manual_seed(0);
    using var model = variant == "small" ? new NFNet(SmallModel()) : NFNet.Create(variant);
    model.train();
    var boundaries = granularity == "stage"
        ? Enumerable.Range(0, model.StageCount).Select(model.Stage).ToList()
        : model.Blocks.Cast<nn.Module<Tensor, Tensor>>().ToList();
    using var overlap = new OverlappedGradientSum(model, boundaries, comm);
    using var averager = new GradientAverager(model, comm) { GradientsPrescaled = true };
    var generator = new Generator((ulong)(100 + rank));
    using var images = randn(new long[] { batch, model.InChannels, resolution, resolution }, generator: generator).to(ScalarType.BFloat16);
    using var labels = randint(0, model.NumClasses, new long[] { batch }, generator: generator);
    var modes = new[] { "compute", "after", "overlap" };
    var total = modes.ToDictionary(m => m, _ => new List<double>());
    var backward = modes.ToDictionary(m => m, _ => new List<double>());
    var exposed = new List<double>();
    Say("segments", overlap.SegmentCount);
    Tensor[] Pass(string mode)
    {
        model.zero_grad();
        manual_seed(7); // the same dropout and stochastic-depth draws in every pass, so the sums can be compared
        comm.Barrier();
        overlap.Enabled = mode == "overlap";
        var clock = Stopwatch.StartNew();
        using (var scope = NewDisposeScope())
        {
            var loss = nn.functional.cross_entropy(model.call(images).to(ScalarType.Float32), labels).DividedBy(comm.WorldSize);
            loss.backward();
        }
        backward[mode].Add(clock.Elapsed.TotalSeconds);
        if (mode == "after") averager.Average();
        if (mode == "overlap")
        {
            overlap.Finish();
            exposed.Add(overlap.LastWaitSeconds);
        }
        total[mode].Add(clock.Elapsed.TotalSeconds);
        using var copies = NewDisposeScope(); // disposes the p.grad wrappers, which would keep last pass's gradients alive
        return model.parameters().Select(p => p.grad!.clone().DetachFromDisposeScope()).ToArray();
    }
    for (var step = 0; step < steps; step++)
        foreach (var mode in modes)
            foreach (var g in Pass(mode)) g.Dispose();
    foreach (var mode in modes)
        Say($"{mode}_seconds", $"{MedianAfterFirst(total[mode]):F3} (forward+backward {MedianAfterFirst(backward[mode]):F3})");
    Say("overlap_exposed_seconds", MedianAfterFirst(exposed).ToString("F3"));
    var after = Pass("after");
    var again = Pass("after");
    var overlapped = Pass("overlap");
    double Difference(Tensor[] x, Tensor[] y) => NanAware.Max(x.Zip(y, (a, b) => (a - b).abs().max().item<float>()));
    Say("largest_gradient", NanAware.Max(after.Select(g => g.abs().max().item<float>())).ToString("R"));
    Say("max_difference_after_after", Difference(after, again).ToString("R"));
    Say("max_difference", Difference(after, overlapped).ToString("R"));
    Say("markers_last_pass", overlap.MarkersFired);
}
