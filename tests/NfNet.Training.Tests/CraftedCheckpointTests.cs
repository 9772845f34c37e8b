using System.Text.Json.Nodes;
using NfNet.Models;
using NfNet.Training.Checkpoints;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Training.Tests;

/// <summary>
/// A checkpoint is a file from anywhere: its stored configuration can ask for a model that the file does not hold and
/// no machine could allocate. Each crafted case below is a valid checkpoint (checksum and all) whose configuration lies;
/// rebuilding it is refused with a <see cref="CheckpointFormatException"/> naming the file, before any large allocation
/// (the process's peak resident memory, reset first, grows by less than 300 MB).
/// </summary>
public sealed class CraftedCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nfnet-crafted-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly NFNetConfig Small = FashionMnistRecipe.Model(24) with { Name = "crafted" };

    // A checkpoint of the small model whose stored configuration has been edited by `edit`.
    private string Crafted(string name, Action<JsonObject> edit)
    {
        using var model = new NFNet(Small);
        using var optimizer = optim.SGD(model.parameters(), 0.1);
        var info = CheckpointInfo.For(model, epoch: 1, step: 1, emaUpdates: 0);
        var config = JsonNode.Parse(info.ModelConfig!)!.AsObject();
        edit(config);
        var path = Path.Combine(_dir, name + ".nfckpt");
        TrainingCheckpoint.Save(path, model, optimizer, null, info with { ModelConfig = config.ToJsonString() });
        return path;
    }

    // Peak resident memory (VmHWM) after resetting it through /proc/self/clear_refs (Linux: "5" resets the peak).
    private static long ResetPeak()
    {
        File.WriteAllText("/proc/self/clear_refs", "5");
        return Peak();
    }

    private static long Peak() =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    public static TheoryData<string, string, string> Cases => new()
    {
        { "in-channels-16M", """{"InChannels": 16777216}""", "input channels exceed" },
        { "five-million-blocks", """{"Depths": [1, 1, 1, 5000000]}""", "exceeds the limit of 1024" },
        { "int-max-classes", """{"NumClasses": 2147483647}""", "classes exceed" },
        { "in-channels-2048", """{"InChannels": 2048}""", "the configuration and the weights disagree" },
        { "classes-500k", """{"NumClasses": 500000}""", "the configuration and the weights disagree" },
        { "deeper-than-stored", """{"Depths": [1, 2, 4, 2]}""", "which the file does not hold" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ACheckpointWhoseConfigurationLiesIsRefusedBeforeAnyLargeAllocation(string name, string patch, string expected)
    {
        var path = Crafted(name, config =>
        {
            foreach (var (key, value) in JsonNode.Parse(patch)!.AsObject()) config[key] = value?.DeepClone();
        });
        GC.Collect();
        var before = ResetPeak();
        var error = Assert.Throws<CheckpointFormatException>(() => TrainingCheckpoint.LoadModel(path));
        var grown = Peak() - before;
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
        Assert.InRange(grown, long.MinValue, 300L << 20);
    }

    [Fact]
    public void TheUneditedCheckpointStillRebuildsItsModel()
    {
        var path = Crafted("honest", _ => { });
        using var model = TrainingCheckpoint.LoadModel(path);
        using var reference = new NFNet(Small);
        Assert.Equal(reference.ParameterCount(), model.ParameterCount());
    }
}
