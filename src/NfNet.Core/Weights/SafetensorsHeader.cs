namespace NfNet.Weights;

/// <summary>A validated safetensors header.</summary>
/// <param name="Entries">Tensor entries, in header order.</param>
/// <param name="Metadata">The <c>__metadata__</c> map (empty when absent).</param>
/// <param name="DataStart">Byte offset of the data section in the file (8 + header length).</param>
public sealed record SafetensorsHeader(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);
