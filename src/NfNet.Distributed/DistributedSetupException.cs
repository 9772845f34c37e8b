namespace NfNet.Distributed;

/// <summary>Distributed training cannot start: Open MPI is missing or failed to initialise, or the launch environment
/// is inconsistent. The message says what to install or change.</summary>
public sealed class DistributedSetupException(string message, Exception? inner = null) : Exception(message, inner);
