using System.Runtime.InteropServices;
using Google.Protobuf;
using NfNet.Platform;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace NfNet.Onnx;

/// <summary>Builds an ONNX graph node by node: float32 initializers from tensors, unique value names, and the few
/// operators the exporters write. Every value is NCHW float32.</summary>
internal sealed class OnnxGraph
{
    private int _next;

    public OnnxGraph(int opset) => Opset = opset;

    public int Opset { get; }
    public GraphProto Graph { get; } = new() { Name = "nfnet" };

    private string Fresh(string hint) => $"{hint}_{_next++}";

    /// <summary>A float32 initializer with <paramref name="value"/>'s shape and values (converted on the CPU).</summary>
    public string Initializer(string name, Tensor value)
    {
        using var scope = NewDisposeScope();
        var t = value.detach().to(ScalarType.Float32).cpu().contiguous();
        var data = t.data<float>().ToArray();
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.AddRange(Shapes.Of(t));
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
        Graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>A 1-D int64 initializer (a shape for Reshape).</summary>
    public string Int64s(string name, params long[] values)
    {
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.Add(values.Length);
        proto.Int64Data.AddRange(values);
        Graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>A scalar float32 initializer.</summary>
    public string Scalar(string hint, double value)
    {
        var proto = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Float };
        proto.FloatData.Add((float)value);
        Graph.Initializer.Add(proto);
        return proto.Name;
    }

    /// <summary>Adds a node with one output; returns the output's name.</summary>
    public string Node(string op, string hint, params string[] inputs) => Node(op, hint, inputs, Array.Empty<AttributeProto>());

    /// <summary>Adds a node with attributes; returns the output's name.</summary>
    public string Node(string op, string hint, string[] inputs, params AttributeProto[] attributes)
    {
        var output = Fresh(hint);
        var node = new NodeProto { OpType = op, Name = output + "_" + op };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A convolution with explicit pads (top, left, bottom, right).</summary>
    public string Conv(string x, string hint, string weight, string? bias, long kernel, long stride, long groups, long[] pads) =>
        Node("Conv", hint, bias is null ? new[] { x, weight } : new[] { x, weight, bias },
            Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pads), Ints("dilations", 1, 1), Int("group", groups));

    public string Mul(string a, string b, string hint = "mul") => Node("Mul", hint, a, b);

    /// <summary>Names the value <paramref name="x"/> as the graph output <paramref name="name"/> (an Identity node).</summary>
    public void Output(string x, string name)
    {
        var node = new NodeProto { OpType = "Identity", Name = name + "_Identity" };
        node.Input.Add(x);
        node.Output.Add(name);
        Graph.Node.Add(node);
    }

    /// <summary>The graph's declared input or output [batch or N, C, H, W] (or [batch, F] with <paramref name="dims"/> of 1).</summary>
    public static ValueInfoProto Value(string name, bool dynamicBatch, long batch, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(dynamicBatch ? new TensorShapeProto.Types.Dimension { DimParam = "batch" } : new TensorShapeProto.Types.Dimension { DimValue = batch });
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
