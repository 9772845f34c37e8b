namespace NfNet.Cli;

/// <summary>A problem the user can fix (a bad path, an option that does not apply): printed as one line, exit code 1.</summary>
internal sealed class CliException(string message) : Exception(message);
