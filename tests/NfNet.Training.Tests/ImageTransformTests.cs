using NfNet.Training.Images;
using Xunit;

namespace NfNet.Training.Tests;

/// <summary>Every image transform against a hand computation on small images.</summary>
public class ImageTransformTests
{
    private static DecodedImage Grey(int width, int height, params byte[] values) => DecodedImage.FromGrey(width, height, values);

    private static byte[] Red(DecodedImage image) => Enumerable.Range(0, image.Width * image.Height).Select(i => image.Pixels[4 * i]).ToArray();

    private static DecodedImage Rgb(int width, int height, params (byte R, byte G, byte B)[] pixels)
    {
        var bytes = new byte[4 * pixels.Length];
        for (var i = 0; i < pixels.Length; i++) (bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]) = (pixels[i].R, pixels[i].G, pixels[i].B, 255);
        return new DecodedImage(width, height, bytes);
    }

    [Fact]
    public void BilinearResizeInterpolatesAtPixelCentres()
    {
        // 2×1 [0, 100] → 4×1: centres at source x = −0.25, 0.25, 0.75, 1.25 → clamp → 0, 25, 75, 100.
        var resized = new ResizeImage(4, 1, Interpolation.Bilinear).Apply(Grey(2, 1, 0, 100), new Random(0));
        var expected = new[] { 0, 25, 75, 100 };
        for (var i = 0; i < 4; i++) Assert.InRange(Red(resized)[i], expected[i] - 1, expected[i] + 1);
    }

    [Fact]
    public void NearestResizeReplicatesPixels()
    {
        var resized = new ResizeImage(4, 4, Interpolation.Nearest).Apply(Grey(2, 2, 10, 20, 30, 40), new Random(0));
        Assert.Equal(new byte[] { 10, 10, 20, 20, 10, 10, 20, 20, 30, 30, 40, 40, 30, 30, 40, 40 }, Red(resized));
    }

    [Fact]
    public void BicubicResizeKeepsAConstantImage()
    {
        var flat = Grey(7, 5, Enumerable.Repeat((byte)123, 35).ToArray());
        Assert.All(Red(new ResizeImage(13, 9, Interpolation.Bicubic).Apply(flat, new Random(0))), v => Assert.Equal(123, v));
    }

    [Fact]
    public void RandomResizedCropStaysInItsRanges()
    {
        var crop = new RandomResizedCrop(16);
        var random = new Random(1);
        for (var i = 0; i < 2000; i++)
        {
            var (left, top, w, h) = crop.SampleCrop(200, 120, random);
            Assert.InRange(left, 0, 200 - w);
            Assert.InRange(top, 0, 120 - h);
            var area = (double)w * h / (200 * 120);
            // Rounding of w and h moves area and ratio slightly past the drawn values.
            Assert.InRange(area, 0.08 * 0.9, 1.0);
            Assert.InRange((double)w / h, 0.75 * 0.9, 4.0 / 3 * 1.1);
        }
    }

    [Fact]
    public void RandomResizedCropFallsBackToACentredCropAtTheRatioLimit()
    {
        // 1000×10 can never fit a crop of ratio ≤ 4/3 with ≥ 8 % of the area: fallback w = round(10 · 4/3) = 13, h = 10,
        // centred at (1000 − 13) / 2 = 493.
        Assert.Equal((493, 0, 13, 10), new RandomResizedCrop(8).SampleCrop(1000, 10, new Random(0)));
    }

    [Fact]
    public void FlipMirrorsRows()
    {
        var image = Grey(3, 2, 1, 2, 3, 4, 5, 6);
        Assert.Equal(new byte[] { 3, 2, 1, 6, 5, 4 }, Red(RandomHorizontalFlip.Mirror(image)));
        Assert.Same(image, new RandomHorizontalFlip(0).Apply(image, new Random(0)));
        Assert.Equal(new byte[] { 3, 2, 1, 6, 5, 4 }, Red(new RandomHorizontalFlip(1).Apply(image, new Random(0))));
    }

    [Fact]
    public void PadSurroundsWithTheFill()
    {
        var padded = new PadImage(1, 9).Apply(Grey(1, 1, 5), new Random(0));
        Assert.Equal(new byte[] { 9, 9, 9, 9, 5, 9, 9, 9, 9 }, Red(padded));
    }

    [Fact]
    public void CenterCropUsesTorchvisionRounding()
    {
        var image = Grey(4, 4, Enumerable.Range(0, 16).Select(i => (byte)i).ToArray());
        // offset round((4 − 3) / 2) = round(0.5) = 0 (Python's round half to even).
        Assert.Equal(new byte[] { 0, 1, 2, 4, 5, 6, 8, 9, 10 }, Red(ResizeCenterCrop.CenterCrop(image, 3)));
        Assert.Equal(new byte[] { 5, 6, 9, 10 }, Red(ResizeCenterCrop.CenterCrop(image, 2))); // offset 1
    }

    [Fact]
    public void EvalResizeSizesFollowTimmAndTorchvision()
    {
        // timm dm_nfnet_f0: squash to floor(256 / 0.9) = 284 on both sides.
        Assert.Equal((284, 284), new ResizeCenterCrop(256, 0.9, EvalResizeMode.Squash).ResizedSize(500, 375));
        // Resize(256) of 500×375: shorter side 256, longer int(256 · 500 / 375) = 341.
        Assert.Equal((341, 256), new ResizeCenterCrop(224, 0.875, EvalResizeMode.ShorterSide).ResizedSize(500, 375));
        var pretrained = ResizeCenterCrop.ForPretrained(NfNet.Weights.PretrainedVariants.Get("F0"));
        Assert.Equal((256, 0.9, EvalResizeMode.Squash, Interpolation.Bicubic), (pretrained.Size, pretrained.CropPercent, pretrained.Mode, pretrained.Interpolation));
    }

    [Fact]
    public void MagnitudesAreTorchvisionsBins()
    {
        Assert.Equal(0.3 * 9 / 30, RandAugment.MagnitudeOf(RandAugmentOp.ShearX, 9, 32, 32), 12);
        Assert.Equal(150, RandAugment.MagnitudeOf(RandAugmentOp.TranslateX, 30, 331, 10)); // 150/331 of the width at the top bin
        Assert.Equal(Math.Truncate(150.0 / 331 * 64 * 0.5), RandAugment.MagnitudeOf(RandAugmentOp.TranslateY, 15, 10, 64));
        Assert.Equal(15.0, RandAugment.MagnitudeOf(RandAugmentOp.Rotate, 15, 32, 32), 12);
        Assert.Equal(7, RandAugment.MagnitudeOf(RandAugmentOp.Posterize, 9, 32, 32));   // 8 − round(9 / 7.5 = 1.2)
        Assert.Equal(6, RandAugment.MagnitudeOf(RandAugmentOp.Posterize, 15, 32, 32));  // 8 − round(2)
        Assert.Equal(127.5, RandAugment.MagnitudeOf(RandAugmentOp.Solarize, 15, 32, 32), 12);
        Assert.Equal(0.45, RandAugment.MagnitudeOf(RandAugmentOp.Contrast, 15, 32, 32), 12);
        Assert.False(RandAugment.IsSigned(RandAugmentOp.Posterize));
        Assert.True(RandAugment.IsSigned(RandAugmentOp.Rotate));
    }

    [Fact]
    public void ColourOperationsMatchTheirFormulas()
    {
        var image = Grey(4, 1, 183, 200, 100, 128);
        Assert.Equal(new byte[] { 176, 192, 96, 128 }, Red(RandAugment.ApplyOp(RandAugmentOp.Posterize, image, 4)));        // keep 4 high bits
        Assert.Equal(new byte[] { 72, 55, 100, 127 }, Red(RandAugment.ApplyOp(RandAugmentOp.Solarize, image, 128)));       // v ≥ 128 → 255 − v
        Assert.Equal(new byte[] { 255, 255, 150, 192 }, Red(RandAugment.ApplyOp(RandAugmentOp.Brightness, image, 0.5)));   // ×1.5, clamped
        Assert.Equal(new byte[] { 91, 100, 50, 64 }, Red(RandAugment.ApplyOp(RandAugmentOp.Brightness, image, -0.5)));     // ×0.5, truncated
        // Contrast: mean luma (183 + 200 + 100 + 128) / 4 = 152.75; factor 2: 2v − 152.75, clamped and truncated.
        Assert.Equal(new byte[] { 213, 247, 47, 103 }, Red(RandAugment.ApplyOp(RandAugmentOp.Contrast, image, 1.0)));
        // AutoContrast: (v − 100) · 255 / 100.
        Assert.Equal(new byte[] { 211, 255, 0, 71 }, Red(RandAugment.ApplyOp(RandAugmentOp.AutoContrast, image, 0)));
    }

    [Fact]
    public void ColorBlendsWithLuma()
    {
        var image = Rgb(1, 1, (200, 100, 50));
        var luma = (299 * 200 + 587 * 100 + 114 * 50 + 500) / 1000; // 124
        var grey = RandAugment.ApplyOp(RandAugmentOp.Color, image, -1.0); // factor 0: the grey image
        Assert.Equal(new[] { luma, luma, luma }, new[] { (int)grey.Pixels[0], grey.Pixels[1], grey.Pixels[2] });
        var vivid = RandAugment.ApplyOp(RandAugmentOp.Color, image, 0.5); // 1.5 v − 0.5 luma: 300 − 62, 150 − 62, 75 − 62
        Assert.Equal(new[] { 238, 88, 13 }, new[] { (int)vivid.Pixels[0], vivid.Pixels[1], vivid.Pixels[2] });
    }

    [Fact]
    public void SharpnessBlendsWithTheSmoothedImage()
    {
        // 3×3 with 13 in the centre: SMOOTH gives 13·5/13 = 5 in the centre; the border is kept.
        var image = Grey(3, 3, 0, 0, 0, 0, 13, 0, 0, 0, 0);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 5, 0, 0, 0, 0 }, Red(RandAugment.ApplyOp(RandAugmentOp.Sharpness, image, -1.0)));
        // factor 1.5: 1.5 · 13 − 0.5 · 5 = 17.
        Assert.Equal(17, Red(RandAugment.ApplyOp(RandAugmentOp.Sharpness, image, 0.5))[4]);
    }

    [Fact]
    public void EqualizeUsesPilsLookupTable()
    {
        // 510 × 10, 255 × 20, 1 × 30: step = (766 − 1) / 255 = 3; lut[v] = (pixels below v + 1) / 3.
        var values = Enumerable.Repeat((byte)10, 510).Concat(Enumerable.Repeat((byte)20, 255)).Append((byte)30).ToArray();
        var result = Red(RandAugment.ApplyOp(RandAugmentOp.Equalize, Grey(values.Length, 1, values), 0));
        Assert.Equal(0, result[0]);
        Assert.Equal(170, result[510]);
        Assert.Equal(255, result[^1]);
        // A flat histogram (step 0) is left unchanged.
        Assert.Equal(new byte[] { 7, 7 }, Red(RandAugment.ApplyOp(RandAugmentOp.Equalize, Grey(2, 1, 7, 7), 0)));
    }

    [Fact]
    public void GeometricOperationsMoveThePixelsTheySay()
    {
        var row = Grey(5, 1, 10, 20, 30, 40, 50);
        Assert.Equal(new byte[] { 30, 40, 50, 0, 0 }, Red(RandAugment.ApplyOp(RandAugmentOp.TranslateX, row, 2)));   // out(x) = in(x + 2)
        Assert.Equal(new byte[] { 0, 10, 20, 30, 40 }, Red(RandAugment.ApplyOp(RandAugmentOp.TranslateX, row, -1)));

        var square = Grey(3, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        // Counter-clockwise by 90°: out(x, y) = in(W − 1 − y, x).
        Assert.Equal(new byte[] { 3, 6, 9, 2, 5, 8, 1, 4, 7 }, Red(RandAugment.ApplyOp(RandAugmentOp.Rotate, square, 90)));

        // ShearX 0.3: out(x, y) = in(floor(x + 0.5 + 0.3 (y + 0.5)), y), black outside.
        var grid = Grey(5, 5, Enumerable.Range(1, 25).Select(i => (byte)i).ToArray());
        var sheared = Red(RandAugment.ApplyOp(RandAugmentOp.ShearX, grid, 0.3));
        for (var y = 0; y < 5; y++)
            for (var x = 0; x < 5; x++)
            {
                var sx = (int)Math.Floor(x + 0.5 + 0.3 * (y + 0.5));
                Assert.Equal(sx < 5 ? grid.Pixels[4 * (y * 5 + sx)] : 0, sheared[y * 5 + x]);
            }
    }

    [Fact]
    public void RandAugmentIsDeterministicForASeedAndZeroLayersIsIdentity()
    {
        var image = ImageDecoder.Decode(Directory.GetFiles(ImageFixture.Train, "*.png", SearchOption.AllDirectories).Order().First(), ChannelPolicy.Rgb);
        var augment = new RandAugment(4, 15);
        Assert.Equal(augment.Apply(image, new Random(7)).Pixels, augment.Apply(image, new Random(7)).Pixels);
        Assert.NotEqual(augment.Apply(image, new Random(7)).Pixels, augment.Apply(image, new Random(8)).Pixels);
        Assert.Same(image, new RandAugment(0, 9).Apply(image, new Random(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RandAugment(2, 31));
    }

    [Fact]
    public void PipelineNormalisesPerChannel()
    {
        var pipeline = new ImagePipeline(Array.Empty<IImageTransform>(), ChannelPolicy.Rgb, 1, 1, new[] { 0.5, 0.25, 0.0 }, new[] { 0.5, 0.25, 2.0 });
        var output = new float[3];
        pipeline.WriteNormalized(Rgb(1, 1, (255, 51, 102)), output);
        Assert.Equal(1.0, output[0], 5);                    // (1 − 0.5) / 0.5
        Assert.Equal((0.2 - 0.25) / 0.25, output[1], 5);    // 51/255 = 0.2
        Assert.Equal(0.4 / 2.0, output[2], 5);              // 102/255 = 0.4
        Assert.Throws<ArgumentException>(() => new ImagePipeline(Array.Empty<IImageTransform>(), ChannelPolicy.Rgb, 1, 1, new[] { 0.5 }, new[] { 0.5 }));
    }
}
