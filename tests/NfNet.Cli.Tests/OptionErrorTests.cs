using NfNet.Training;
using Xunit;

namespace NfNet.Cli.Tests;

/// <summary>
/// Every option error of <c>nfnet train</c> names the option and its valid range and exits 2, before any data is read
/// or any model is built; <c>--help</c> states each range.
/// </summary>
public sealed class OptionErrorTests
{
    [Theory]
    [InlineData("--resolution 1", "--resolution must be 16 to 4096 pixels, got 1")]
    [InlineData("--resolution 100000", "--resolution must be 16 to 4096 pixels, got 100000")]
    [InlineData("--lr inf", "--lr: 'inf' is not a finite number")]
    [InlineData("--lr Infinity", "--lr must be a finite number > 0")]
    [InlineData("--lr -0.1", "--lr must be a finite number > 0")]
    [InlineData("--workers 10000", "--workers must be 1 to 256, got 10000")]
    [InlineData("--width 16", "--width must be a multiple of 8 from 24 to 1024, got 16")]
    [InlineData("--batch 1e9", "--batch: '1e9' is not a whole number")]
    [InlineData("--batch 0", "--batch must be 1 to 65,536, got 0")]
    [InlineData("--epochs 0", "--epochs must be 1 to 100,000, got 0")]
    [InlineData("--precision fp16", "--precision must be auto, fp32, mixed or bf16, got 'fp16'")]
    public void AnOptionOutOfRangeNamesItsRangeAndExits2(string options, string expected)
    {
        var args = options.Split(' ');
        // Image-data options need --images to get past the data checks; the folder is never read.
        var images = args[0] is "--resolution" or "--workers" or "--lr" ? new[] { "--images", Tool.Images } : Array.Empty<string>();
        var result = Tool.Run(new[] { "train" }.Concat(images).Concat(args).ToArray());
        Assert.Equal(2, result.Code);
        Assert.Contains(expected, result.Errors);
    }

    [Fact]
    public void HelpStatesTheRanges()
    {
        var help = Tool.Run("train", "--help");
        Assert.Equal(0, help.Code);
        foreach (var range in new[] { "24 to 1024", "16 to 4096", "1 to 256", "1 to 65,536", "1 to 100,000", "finite number > 0" })
            Assert.Contains(range, help.Output);
    }

    [Fact]
    public void TheWidthRangeInHelpIsExactlyTheDemoNetworksValidWidths()
    {
        for (var width = 8; width <= 1024; width += 8)
        {
            var valid = true;
            try { FashionMnistRecipe.Model(width).Validate(); }
            catch (ArgumentException) { valid = false; }
            Assert.True(valid == width >= 24, $"width {width}: {(valid ? "valid" : "invalid")}");
        }
    }
}
