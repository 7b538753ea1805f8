using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Graph
{
    /// <summary>The operations of a Llama decoder, before fusion.</summary>
    public enum OpKind
    {
        Embedding,
        ResidualAdd,
        RmsNorm,
        Linear,
        Rope,
        KvCacheWrite,
        Attention,
        SwiGlu,
    }

    /// <summary>
    /// A tensor flowing between ops. Shapes are symbolic in the token count: "T" is the tokens of a step (all prompt
    /// tokens in prefill, one per sequence in decode) and "S" the sequences of the step.
    /// </summary>
    public sealed record GraphValue(string Name, string Rows, int Columns, DType DType)
    {
        public string ShapeText => "[" + Rows + ", " + Columns + "]";
    }

    /// <summary>One op of the graph: what it computes, on which layer and module, from which values into which.</summary>
    public sealed record GraphOp(
        string Name,
        OpKind Kind,
        int Layer,
        ModuleKind? Module,
        QuantScheme? Scheme,
        EquatableArray<string> Inputs,
        EquatableArray<string> Outputs);

    /// <summary>The decoder graph of one model: values by name and ops in execution order.</summary>
    public sealed record LlamaGraph(ModelShape Model, EquatableArray<GraphValue> Values, EquatableArray<GraphOp> Ops);
}
