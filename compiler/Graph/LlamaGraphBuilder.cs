using System.Collections.Generic;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Graph
{
    /// <summary>
    /// Builds the Llama decoder graph from a spec: embedding, then per layer [residual add, RMSNorm, q/k/v projections,
    /// RoPE, KV-cache write, attention, o projection, residual add, RMSNorm, gate/up projections, SwiGLU, down projection],
    /// then the final residual add and norm (last token of each sequence) and lm_head.
    /// </summary>
    public static class LlamaGraphBuilder
    {
        public static LlamaGraph Build(ModelSpec spec)
        {
            var m = spec.Model;
            var a = m.DType;
            var values = new List<GraphValue>
            {
                new GraphValue("token_ids", "T", 1, DType.I32),
                new GraphValue("positions", "T", 1, DType.I32),
                new GraphValue("last_token_rows", "S", 1, DType.I32),
                new GraphValue("residual", "T", m.HiddenSize, a),
                new GraphValue("delta", "T", m.HiddenSize, a),
                new GraphValue("normed", "T", m.HiddenSize, a),
                new GraphValue("q", "T", m.QSize, a),
                new GraphValue("k", "T", m.KvSize, a),
                new GraphValue("v", "T", m.KvSize, a),
                new GraphValue("attn_out", "T", m.QSize, a),
                new GraphValue("gate", "T", m.IntermediateSize, a),
                new GraphValue("up", "T", m.IntermediateSize, a),
                new GraphValue("mlp_act", "T", m.IntermediateSize, a),
                new GraphValue("final_normed", "S", m.HiddenSize, a),
                new GraphValue("logits", "S", m.VocabSize, DType.F32),
            };
            var ops = new List<GraphOp>();

            void Op(string name, OpKind kind, int layer, string[] inputs, string[] outputs, ModuleKind? module = null) =>
                ops.Add(new GraphOp(name, kind, layer, module, module is ModuleKind mk ? spec.Quantization.For(mk, layer < 0 ? 0 : layer) : null,
                    inputs.ToEquatableArray(), outputs.ToEquatableArray()));

            Op("embed_tokens", OpKind.Embedding, -1, new[] { "token_ids" }, new[] { "residual" }, ModuleKind.EmbedTokens);
            for (int l = 0; l < m.NumHiddenLayers; l++)
            {
                string p = "layers." + l + ".";
                if (l > 0) Op(p + "mlp_residual", OpKind.ResidualAdd, l, new[] { "residual", "delta" }, new[] { "residual" });
                Op(p + "input_layernorm", OpKind.RmsNorm, l, new[] { "residual" }, new[] { "normed" });
                Op(p + "q_proj", OpKind.Linear, l, new[] { "normed" }, new[] { "q" }, ModuleKind.QProj);
                Op(p + "k_proj", OpKind.Linear, l, new[] { "normed" }, new[] { "k" }, ModuleKind.KProj);
                Op(p + "v_proj", OpKind.Linear, l, new[] { "normed" }, new[] { "v" }, ModuleKind.VProj);
                Op(p + "rope", OpKind.Rope, l, new[] { "q", "k", "positions" }, new[] { "q", "k" });
                Op(p + "kv_cache_write", OpKind.KvCacheWrite, l, new[] { "k", "v" }, new string[0]);
                Op(p + "attention", OpKind.Attention, l, new[] { "q", "k", "v" }, new[] { "attn_out" });
                Op(p + "o_proj", OpKind.Linear, l, new[] { "attn_out" }, new[] { "delta" }, ModuleKind.OProj);
                Op(p + "attn_residual", OpKind.ResidualAdd, l, new[] { "residual", "delta" }, new[] { "residual" });
                Op(p + "post_attention_layernorm", OpKind.RmsNorm, l, new[] { "residual" }, new[] { "normed" });
                Op(p + "gate_proj", OpKind.Linear, l, new[] { "normed" }, new[] { "gate" }, ModuleKind.GateProj);
                Op(p + "up_proj", OpKind.Linear, l, new[] { "normed" }, new[] { "up" }, ModuleKind.UpProj);
                Op(p + "swiglu", OpKind.SwiGlu, l, new[] { "gate", "up" }, new[] { "mlp_act" });
                Op(p + "down_proj", OpKind.Linear, l, new[] { "mlp_act" }, new[] { "delta" }, ModuleKind.DownProj);
            }
            Op("final_residual", OpKind.ResidualAdd, m.NumHiddenLayers, new[] { "residual", "delta", "last_token_rows" }, new[] { "residual" });
            Op("norm", OpKind.RmsNorm, m.NumHiddenLayers, new[] { "residual", "last_token_rows" }, new[] { "final_normed" });
            Op("lm_head", OpKind.Linear, m.NumHiddenLayers, new[] { "final_normed" }, new[] { "logits" }, ModuleKind.LmHead);
            return new LlamaGraph(m, values.ToEquatableArray(), ops.ToEquatableArray());
        }
    }
}
