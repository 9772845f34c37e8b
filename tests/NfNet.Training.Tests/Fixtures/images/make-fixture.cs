#:property ManagePackageVersionsCentrally=false
#:package SkiaSharp@3.119.0
#:package SkiaSharp.NativeAssets.Linux.NoDependencies@3.119.0
// Writes this fixture from Debian's Fashion-MNIST test split (dataset-fashion-mnist, MIT licence):
//   dotnet run make-fixture.cs -- /usr/share/datasets/fashion-mnist .
// Real images in every format the loader reads, and damaged files for the error tests (see README.md).
using System.IO.Compression;
using SkiaSharp;

var source = args.Length > 0 ? args[0] : "/usr/share/datasets/fashion-mnist";
var output = args.Length > 1 ? args[1] : ".";
byte[] Read(string name)
{
    var path = Path.Combine(source, name);
    if (File.Exists(path)) return File.ReadAllBytes(path);
    using var gz = new GZipStream(File.OpenRead(path + ".gz"), CompressionMode.Decompress);
    using var ms = new MemoryStream();
    gz.CopyTo(ms);
    return ms.ToArray();
}
var pixels = Read("t10k-images-idx3-ubyte")[16..];
var labels = Read("t10k-labels-idx1-ubyte")[8..];
var classes = new Dictionary<int, string> { [0] = "0_T-shirt-top", [1] = "1_Trouser", [7] = "7_Sneaker" };

SKBitmap Image(int i, bool rgb, bool alpha)
{
    var bitmap = new SKBitmap(new SKImageInfo(28, 28, SKColorType.Rgba8888, alpha ? SKAlphaType.Unpremul : SKAlphaType.Opaque));
    for (var y = 0; y < 28; y++)
        for (var x = 0; x < 28; x++)
        {
            var v = pixels[i * 784 + y * 28 + x];
            // RGB copies are tinted (R full, G 3/4, B 1/2) so that channel handling is visible; RGBA copies are opaque
            // where the garment is and transparent on the black background.
            bitmap.SetPixel(x, y, rgb ? new SKColor(v, (byte)(v * 3 / 4), (byte)(v / 2), alpha ? v : (byte)255) : new SKColor(v, v, v));
        }
    return bitmap;
}
void Save(SKBitmap bitmap, string path, SKEncodedImageFormat format, bool grey)
{
    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
    using var toEncode = grey ? bitmap.Copy(SKColorType.Gray8) : bitmap;
    using var data = toEncode.Encode(format, format == SKEncodedImageFormat.Png ? 100 : 95);
    File.WriteAllBytes(path, data.ToArray());
}

var counts = new Dictionary<(string, int), int>();
for (var i = 0; i < labels.Length; i++)
{
    if (!classes.TryGetValue(labels[i], out var folder)) continue;
    var n = counts.GetValueOrDefault(("all", labels[i]));
    if (n >= 12) continue;
    counts[("all", labels[i])] = n + 1;
    var split = n < 8 ? "train" : "val";
    var stem = Path.Combine(output, split, folder, $"{i:D5}");
    // train: 3 grey PNG, 2 grey JPEG, 1 RGB JPEG, 1 RGBA PNG, 1 RGB WebP; val: 2 grey PNG, 2 grey JPEG.
    var kind = split == "val" ? (n % 2 == 0 ? "png" : "jpg") : n switch { < 3 => "png", < 5 => "jpg", 5 => "rgb.jpg", 6 => "rgba.png", _ => "webp" };
    using var image = Image(i, rgb: kind is "rgb.jpg" or "rgba.png" or "webp", alpha: kind == "rgba.png");
    var (format, grey) = kind switch
    {
        "png" => (SKEncodedImageFormat.Png, true),
        "jpg" => (SKEncodedImageFormat.Jpeg, true),
        "rgb.jpg" => (SKEncodedImageFormat.Jpeg, false),
        "rgba.png" => (SKEncodedImageFormat.Png, false),
        _ => (SKEncodedImageFormat.Webp, false),
    };
    Save(image, $"{stem}.{kind}", format, grey);
}

// Damaged files: each kind of bad input the loader must name.
var damaged = Path.Combine(output, "damaged");
Directory.CreateDirectory(damaged);
var goodJpeg = File.ReadAllBytes(Directory.GetFiles(Path.Combine(output, "train", "1_Trouser"), "*.jpg").Order().First());
var goodPng = File.ReadAllBytes(Directory.GetFiles(Path.Combine(output, "train", "1_Trouser"), "*.png").Order().First());
File.WriteAllBytes(Path.Combine(damaged, "empty.png"), Array.Empty<byte>());
File.WriteAllBytes(Path.Combine(damaged, "truncated.jpg"), goodJpeg[..(goodJpeg.Length / 2)]);
File.WriteAllBytes(Path.Combine(damaged, "truncated.png"), goodPng[..(goodPng.Length / 2)]);
File.WriteAllText(Path.Combine(damaged, "not-an-image.jpg"), "this is a text file with an image extension\n");
File.WriteAllBytes(Path.Combine(damaged, "header-only.png"), goodPng[..20]);
Console.WriteLine($"wrote the fixture to {Path.GetFullPath(output)}");
