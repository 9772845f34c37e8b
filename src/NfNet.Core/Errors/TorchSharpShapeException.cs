using TorchSharp;

namespace NfNet;

/// <summary>TorchSharp changed a non-public member NfNet.NET relies on (see <c>TorchSharpInternals</c>).</summary>
public sealed class TorchSharpShapeException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="member"/>.</summary>
    public TorchSharpShapeException(string member)
        : base($"TorchSharp {typeof(torch).Assembly.GetName().Version} no longer has {member}, which NfNet.NET was built against " +
               "(TorchSharp 0.107). Use the TorchSharp version NfNet.NET references.") => Member = member;

    /// <summary>The member that is missing.</summary>
    public string Member { get; }
}
