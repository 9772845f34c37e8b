using MathNet.Numerics.LinearAlgebra;
using NfNet.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Optim.Tests;

/// <summary>
/// A least-squares problem small enough to differentiate by hand: <c>L = mean((X Wᵀ + b − Y)²)</c> over all N·O
/// entries, with W [O, I] and b [O]. Torch parameters in float64, and a MathNet reference for the gradients.
/// </summary>
internal sealed class LinearProblem
{
    public Matrix<double> X { get; }
    public Matrix<double> Y { get; }
    public Parameter W { get; }
    public Parameter B { get; }
    public int Closures { get; private set; }

    public LinearProblem(int seed, int n = 4, int inputs = 3, int outputs = 2, double weightScale = 1.0)
    {
        var rng = new Random(seed);
        double Next() => rng.NextDouble() * 2 - 1;
        X = Matrix<double>.Build.Dense(n, inputs, (_, _) => Next());
        Y = Matrix<double>.Build.Dense(n, outputs, (_, _) => Next());
        var w = Matrix<double>.Build.Dense(outputs, inputs, (_, _) => Next() * weightScale);
        var b = Vector<double>.Build.Dense(outputs, _ => Next() * weightScale);
        W = new Parameter(tensor(w.ToArray()));
        B = new Parameter(tensor(b.ToArray()));
    }

    public Parameter[] Parameters => new[] { W, B };

    public (string, Parameter)[] Named => new[] { ("w", W), ("b", B) };

    /// <summary>Forward and backward at the current parameters; counts the calls.</summary>
    public Tensor Closure()
    {
        Closures++;
        using var x = tensor(X.ToArray());
        using var y = tensor(Y.ToArray());
        var loss = (x.matmul(W.t()).Plus(B) - y).Squared().mean();
        loss.backward();
        return loss;
    }

    /// <summary>The gradient in double, by hand: dL/dW = 2/(N·O) Rᵀ X, dL/db = 2/(N·O) Σ_rows R.</summary>
    public (Matrix<double> Gw, Vector<double> Gb) Gradient(Matrix<double> w, Vector<double> b)
    {
        var r = X * w.Transpose();
        for (var i = 0; i < r.RowCount; i++) r.SetRow(i, r.Row(i) + b);
        r -= Y;
        var scale = 2.0 / (r.RowCount * r.ColumnCount);
        return (r.Transpose() * X * scale, r.ColumnSums() * scale);
    }

    public static Matrix<double> ToMatrix(Tensor t)
    {
        var data = t.to(ScalarType.Float64).data<double>().ToArray();
        return Matrix<double>.Build.Dense((int)t.shape[0], (int)t.shape[1], (i, j) => data[i * t.shape[1] + j]);
    }

    public static Vector<double> ToVector(Tensor t) => Vector<double>.Build.DenseOfArray(t.to(ScalarType.Float64).data<double>().ToArray());

    public Matrix<double> WValue => ToMatrix(W.detach());
    public Vector<double> BValue => ToVector(B.detach());
}
