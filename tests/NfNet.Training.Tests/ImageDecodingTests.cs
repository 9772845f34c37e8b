using NfNet.Training.Images;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>Decoding real JPEG, PNG, WebP and BMP bytes with SkiaSharp 3.119 (the version ScottPlot brings: this is the
/// check that the decoder really runs in the unified package graph), channel policies, and every kind of bad file.</summary>
public class ImageDecodingTests
{
    private static string File(string split, string cls, string suffix) =>
        Directory.GetFiles(Path.Combine(split, cls)).Where(f => f.EndsWith(suffix, StringComparison.Ordinal)).Order().First();

    [Fact]
    public void GreyPngDecodesToTheIdxPixelsExactly()
    {
        var path = File(ImageFixture.Train, "1_Trouser", "3.png"); // a grey PNG (00003.png)
        var expected = ImageFixture.Pixels(ImageFixture.IndexOf(path));
        var grey = ImageDecoder.Decode(path, ChannelPolicy.Grey);
        var rgb = ImageDecoder.Decode(path, ChannelPolicy.Rgb);
        Assert.Equal((28, 28), (grey.Width, grey.Height));
        for (var i = 0; i < 784; i++)
        {
            Assert.Equal(expected[i], grey.Pixels[4 * i]);
            for (var c = 0; c < 3; c++) Assert.Equal(expected[i], rgb.Pixels[4 * i + c]); // grey file → RGB: replicated
        }
    }

    [Fact]
    public void GreyJpegDecodesCloseToTheIdxPixels()
    {
        var files = Directory.GetFiles(ImageFixture.Val, "*.jpg", SearchOption.AllDirectories);
        Assert.Equal(6, files.Length);   // two grey JPEGs per class (Fixtures/images/README.md)
        foreach (var path in files)
        {
            var expected = ImageFixture.Pixels(ImageFixture.IndexOf(path));
            var image = ImageDecoder.Decode(path, ChannelPolicy.Grey);
            var errors = Enumerable.Range(0, 784).Select(i => Math.Abs(image.Pixels[4 * i] - expected[i])).ToArray();
            // JPEG at quality 95 is lossy: small errors, but the picture (not noise or another image) comes back.
            Assert.True(errors.Average() < 2.0, $"{path}: mean error {errors.Average():F2}");
            Assert.True(errors.Max() < 40, $"{path}: max error {errors.Max()}");
        }
    }

    [Theory]
    [InlineData(".rgb.jpg")]
    [InlineData(".webp")]
    public void RgbFilesKeepTheirColoursAndReduceToLuma(string suffix)
    {
        var path = File(ImageFixture.Train, "7_Sneaker", suffix);
        var v = ImageFixture.Pixels(ImageFixture.IndexOf(path));
        var rgb = ImageDecoder.Decode(path, ChannelPolicy.Rgb);
        var grey = ImageDecoder.Decode(path, ChannelPolicy.Grey);
        double red = 0, green = 0, blue = 0, luma = 0;
        for (var i = 0; i < 784; i++)
        {
            red += Math.Abs(rgb.Pixels[4 * i] - v[i]);
            green += Math.Abs(rgb.Pixels[4 * i + 1] - v[i] * 3 / 4);
            blue += Math.Abs(rgb.Pixels[4 * i + 2] - v[i] / 2);
            // BT.601 luma of the decoded colour, by hand: (299 R + 587 G + 114 B + 500) / 1000.
            var expectedLuma = (299 * rgb.Pixels[4 * i] + 587 * rgb.Pixels[4 * i + 1] + 114 * rgb.Pixels[4 * i + 2] + 500) / 1000;
            luma += Math.Abs(grey.Pixels[4 * i] - expectedLuma);
            Assert.Equal(grey.Pixels[4 * i], grey.Pixels[4 * i + 1]);
        }
        // Colour JPEG subsamples chroma (4:2:0), so its colours drift more than grey ones.
        Assert.True(red / 784 < 6 && green / 784 < 6 && blue / 784 < 6, $"{suffix}: mean errors R {red / 784:F2} G {green / 784:F2} B {blue / 784:F2}");
        Assert.Equal(0, luma);
    }

    [Fact]
    public void RgbaPngFollowsTheAlphaPolicy()
    {
        var path = File(ImageFixture.Train, "0_T-shirt-top", ".rgba.png");
        var v = ImageFixture.Pixels(ImageFixture.IndexOf(path));
        var drop = ImageDecoder.Decode(path, new ChannelPolicy(3, AlphaPolicy.Drop));
        var black = ImageDecoder.Decode(path, new ChannelPolicy(3, AlphaPolicy.OverBlack));
        var white = ImageDecoder.Decode(path, new ChannelPolicy(3, AlphaPolicy.OverWhite));
        for (var i = 0; i < 784; i++)
        {
            if (v[i] == 0) continue; // fully transparent: the stored colour is not defined
            int a = v[i], r = v[i], g = v[i] * 3 / 4;
            Assert.Equal(r, drop.Pixels[4 * i]);
            Assert.Equal(g, drop.Pixels[4 * i + 1]);
            Assert.Equal((r * a + 127) / 255, black.Pixels[4 * i]);
            Assert.Equal((g * a + 255 * (255 - a) + 127) / 255, white.Pixels[4 * i + 1]);
            Assert.Equal(255, drop.Pixels[4 * i + 3]);
        }
        var transparent = Array.IndexOf(v, (byte)0);
        Assert.Equal(255, white.Pixels[4 * transparent]); // the background over white is white
    }

    [Fact]
    public void HandWrittenBmpDecodes()
    {
        // A 2×2 24-bit BMP written by hand: rows bottom-up, BGR, each row padded to 4 bytes.
        var pixelRows = new byte[]
        {
            0, 0, 255, 0, 255, 0, 0, 0,     // bottom row: red, green (+2 bytes padding)
            255, 0, 0, 255, 255, 255, 0, 0, // top row: blue, white
        };
        var header = new List<byte>();
        void U16(int x) => header.AddRange(BitConverter.GetBytes((ushort)x));
        void U32(int x) => header.AddRange(BitConverter.GetBytes(x));
        header.AddRange("BM"u8.ToArray()); U32(54 + pixelRows.Length); U32(0); U32(54);
        U32(40); U32(2); U32(2); U16(1); U16(24); U32(0); U32(pixelRows.Length); U32(2835); U32(2835); U32(0); U32(0);
        var image = ImageDecoder.Decode(header.Concat(pixelRows).ToArray(), ChannelPolicy.Rgb, "hand.bmp");
        Assert.Equal(new byte[] { 0, 0, 255 }, new[] { image[0, 0, 0], image[0, 0, 1], image[0, 0, 2] }); // top-left blue
        Assert.Equal(new byte[] { 255, 255, 255 }, new[] { image[1, 0, 0], image[1, 0, 1], image[1, 0, 2] });
        Assert.Equal(new byte[] { 255, 0, 0 }, new[] { image[0, 1, 0], image[0, 1, 1], image[0, 1, 2] }); // bottom-left red
        Assert.Equal(new byte[] { 0, 255, 0 }, new[] { image[1, 1, 0], image[1, 1, 1], image[1, 1, 2] });
    }

    [Theory]
    [InlineData("empty.png", "empty")]
    [InlineData("truncated.jpg", "truncated")]
    [InlineData("truncated.png", "truncated")]
    [InlineData("header-only.png", "truncated")]
    [InlineData("not-an-image.jpg", "not an image")]
    public void DamagedFilesRaiseATypedErrorNamingTheFile(string name, string problem)
    {
        var path = Path.Combine(ImageFixture.Damaged, name);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(path, ChannelPolicy.Rgb));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void OtherFormatsAndMissingFilesAreNamed()
    {
        // A valid 1×1 GIF (hand-assembled): decodable by Skia, but not a format the loader accepts.
        byte[] gif = { 0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x21, 0xF9, 4, 1, 0, 0, 0, 0,
            0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3B };
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(gif, ChannelPolicy.Rgb, "x.gif"));
        Assert.Contains("Gif", e.Problem);
        var missing = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode("/nonexistent/a.png", ChannelPolicy.Rgb));
        Assert.Contains("cannot be read", missing.Problem);
    }
}
