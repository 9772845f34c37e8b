using NfNet.Platform;
using Xunit;
using static TorchSharp.torch;

namespace NfNet.Core.Tests;

/// <summary><see cref="DetachedCopy.Of"/>: the values, in a new buffer, with no gradient history and no dispose scope
/// holding it.</summary>
public sealed class DetachedCopyTests
{
    [Fact]
    public void IsANewTensorWithTheValuesAndNoHistory()
    {
        using var w = tensor(new[] { 1.5f, -2.25f, 3.0f }).requires_grad_();
        Tensor copy;
        using (NewDisposeScope())
        {
            using var doubled = w.Times(2.0);   // part of a graph
            copy = DetachedCopy.Of(doubled);
        }
        // The scope has ended: the copy is still valid, so no scope held it.
        using (copy)
        {
            Assert.False(copy.IsInvalid);
            Assert.False(copy.requires_grad);
            Assert.Equal(new[] { 3.0f, -4.5f, 6.0f }, copy.data<float>().ToArray());
            using (no_grad()) w.zero_();
            Assert.Equal(new[] { 3.0f, -4.5f, 6.0f }, copy.data<float>().ToArray());   // its own buffer
        }
    }

    [Fact]
    public void ConvertsToTheDtypeAsked()
    {
        using var bf16 = tensor(new[] { 0.5f, 1.0f / 3.0f }).to(ScalarType.BFloat16);
        using var copy = DetachedCopy.Of(bf16, ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, copy.dtype);
        // 1/3 in bf16 is 0.333984375 (8 significant bits: 0x3EAB); the copy keeps exactly that.
        Assert.Equal(new[] { 0.5f, 0.333984375f }, copy.data<float>().ToArray());
    }
}
