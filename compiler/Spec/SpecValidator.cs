namespace GraphCompiler.Spec
{
    /// <summary>Rules that relate several values of the `model:` section; each points at the value to change.</summary>
    internal static class SpecValidator
    {
        /// <summary>Head dimensions the attention kernels are written for.</summary>
        public static readonly int[] SupportedHeadDims = { 64, 128 };

        public static bool ValidateModel(ModelShape model, SpecDiagnosticSink sink)
        {
            bool ok = true;
            if (model.HiddenSize % model.NumAttentionHeads != 0)
            {
                sink.Error(SpecDiagnosticIds.HeadsDoNotDivideHidden,
                    $"hidden_size {model.HiddenSize} is not divisible by num_attention_heads {model.NumAttentionHeads}; each head takes hidden_size / num_attention_heads features",
                    "model.num_attention_heads");
                return false;
            }
            if (model.NumAttentionHeads % model.NumKeyValueHeads != 0)
            {
                sink.Error(SpecDiagnosticIds.KvHeadsDoNotDivideHeads,
                    $"num_attention_heads {model.NumAttentionHeads} is not divisible by num_key_value_heads {model.NumKeyValueHeads}; in grouped-query attention every KV head serves the same number of query heads",
                    "model.num_key_value_heads");
                ok = false;
            }
            if (System.Array.IndexOf(SupportedHeadDims, model.HeadDim) < 0)
            {
                sink.Error(SpecDiagnosticIds.UnsupportedHeadDim,
                    $"head_dim = hidden_size / num_attention_heads = {model.HeadDim}; the attention kernels support head_dim {string.Join(" or ", SupportedHeadDims)}",
                    sink.Map.Contains("model.head_dim") ? "model.head_dim" : "model.num_attention_heads");
                ok = false;
            }
            if (model.IntermediateSize % 16 != 0)
            {
                sink.Error(SpecDiagnosticIds.OutOfRange,
                    $"intermediate_size {model.IntermediateSize} must be divisible by 16: it is the K of down_proj, and GEMM K steps are multiples of the MMA's k = 16",
                    "model.intermediate_size");
                ok = false;
            }
            return ok;
        }
    }
}
