namespace NfNet.Distributed;

/// <summary>The ranks of a run disagree where they must agree (the model's structure, a checkpoint's world size): raised
/// on every rank at once, before any training step, naming the ranks that differ from rank 0.</summary>
public sealed class RankMismatchException(string message) : Exception(message);
