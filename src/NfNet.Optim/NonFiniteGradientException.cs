namespace NfNet.Optim;

/// <summary>A parameter's gradient holds NaN or infinity; the step was not taken.</summary>
public sealed class NonFiniteGradientException : ArithmeticException
{
    /// <summary>The parameter's name (or its index when the optimizer was given no names).</summary>
    public string ParameterName { get; }

    /// <summary>Creates the exception for <paramref name="parameterName"/>.</summary>
    public NonFiniteGradientException(string parameterName)
        : base($"gradient of '{parameterName}' is not finite (NaN or infinity); the optimizer step was not taken")
    {
        ParameterName = parameterName;
    }
}
