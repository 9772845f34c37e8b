using NfNet.Training;
using NfNet.Training.Checkpoints;

namespace NfNet.Demo;

/// <summary><c>--resume</c>, the same for Fashion-MNIST and for an image folder: the newest valid checkpoint in the run's
/// folder, with every damaged one skipped and reported (the trainer falls back to the older kept ones).</summary>
internal static class DemoResume
{
    /// <summary>Restores <paramref name="trainer"/> and says from where; null, after saying why on stderr, when there is
    /// no valid checkpoint at <paramref name="checkpointPath"/>.</summary>
    public static CheckpointInfo? Resume(Trainer trainer, string checkpointPath)
    {
        var resumed = trainer.ResumeNewest(checkpointPath, out var skipped);
        foreach (var (_, reason) in skipped) Console.Error.WriteLine($"--resume: skipped a damaged checkpoint: {reason}");
        if (resumed is not { } found)
        {
            Console.Error.WriteLine($"--resume: no valid checkpoint at {checkpointPath} (run without --resume first, with the same --out)");
            return null;
        }
        Console.WriteLine($"resumed from {found.Path}: epoch {found.Info.Epoch}, step {found.Info.Step}");
        return found.Info;
    }
}
