namespace NfNet.Hub;

/// <summary>Progress of one download: bytes on disk so far and the file's size when known.</summary>
public readonly record struct HubDownload(string File, long Downloaded, long? Size);
