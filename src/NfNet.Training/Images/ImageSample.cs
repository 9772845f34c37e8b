namespace NfNet.Training.Images;

/// <summary>One labelled image file of a data set: its full path and its class index.</summary>
/// <param name="Path">Full path of the image file.</param>
/// <param name="Label">Class index, in <c>[0, classes)</c>.</param>
public readonly record struct ImageSample(string Path, int Label);
