using System.ComponentModel;
using System.Diagnostics;
using NfNet.Training.Data;
using NfNet.Training.Images;
using Spectre.Console.Cli;

namespace NfNet.Cli.Commands;

/// <summary><c>nfnet write-images</c>'s options.</summary>
public sealed class WriteImagesSettings : CliSettings
{
    [CommandArgument(0, "<DIR>")]
    [Description("The folder to create (train/ and test/, one subfolder per class)")]
    public string Directory { get; init; } = "";

    [CommandOption("--data <DIR>")]
    [Description("Fashion-MNIST's IDX files (default: Debian's)")]
    public string? Data { get; init; }

    [CommandOption("--image-format <FORMAT>")]
    [Description("png, jpeg or mixed")]
    [DefaultValue(ImageFileFormat.Mixed)]
    public ImageFileFormat Format { get; init; } = ImageFileFormat.Mixed;

    [CommandOption("--limit <N>")]
    [Description("Write the first N images of each split")]
    public int? Limit { get; init; }
}

/// <summary><c>nfnet write-images</c>: Fashion-MNIST as an image folder of PNG/JPEG files, to try image training without
/// photos at hand.</summary>
public sealed class WriteImagesCommand : Command<WriteImagesSettings>
{
    public override int Execute(CommandContext context, WriteImagesSettings s, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var (trainCount, testCount) = FashionMnistImageFolder.Write(s.Data ?? FashionMnist.DebianDirectory, s.Directory, s.Format, s.Limit);
        Console.WriteLine($"wrote {trainCount:N0} training and {testCount:N0} test images ({s.Format}) to {Path.GetFullPath(s.Directory)} in {clock.Elapsed.TotalSeconds:F1} s");
        return 0;
    }
}
