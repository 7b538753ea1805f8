using System;

namespace GraphCompiler.Spec
{
    /// <summary>The weight-bearing modules of a Llama model, named as the spec and Hugging Face name them.</summary>
    public enum ModuleKind
    {
        EmbedTokens,
        QProj,
        KProj,
        VProj,
        OProj,
        GateProj,
        UpProj,
        DownProj,
        LmHead,
    }

    public static class ModuleKinds
    {
        /// <summary>The linear modules every decoder layer has, in execution order.</summary>
        public static readonly ModuleKind[] LayerLinears =
        {
            ModuleKind.QProj, ModuleKind.KProj, ModuleKind.VProj, ModuleKind.OProj,
            ModuleKind.GateProj, ModuleKind.UpProj, ModuleKind.DownProj,
        };

        public static bool TryParse(string specName, out ModuleKind module)
        {
            foreach (ModuleKind m in Enum.GetValues(typeof(ModuleKind)))
                if (m.SpecName() == specName)
                {
                    module = m;
                    return true;
                }
            module = default;
            return false;
        }

        /// <summary>Megatron's cut: the first linear of each pair (q/k/v, gate/up) by columns, the second (o, down) by rows,
        /// so a rank computes its heads and its MLP slice with no exchange until one all-reduce after each row-split
        /// product. embed_tokens and lm_head are whole on every rank (TensorRT-LLM's default for the embedding): no
        /// exchange before the first layer or after the last, and tied weights stay one tensor.</summary>
        public static TensorSplit TensorSplit(this ModuleKind module) => module switch
        {
            ModuleKind.OProj or ModuleKind.DownProj => Spec.TensorSplit.Rows,
            ModuleKind.EmbedTokens or ModuleKind.LmHead => Spec.TensorSplit.Replicated,
            _ => Spec.TensorSplit.Columns,
        };

        public static bool IsLayerModule(this ModuleKind module) => module is not (ModuleKind.EmbedTokens or ModuleKind.LmHead);

        public static string SpecName(this ModuleKind module) => module switch
        {
            ModuleKind.EmbedTokens => "embed_tokens",
            ModuleKind.QProj => "q_proj",
            ModuleKind.KProj => "k_proj",
            ModuleKind.VProj => "v_proj",
            ModuleKind.OProj => "o_proj",
            ModuleKind.GateProj => "gate_proj",
            ModuleKind.UpProj => "up_proj",
            ModuleKind.DownProj => "down_proj",
            ModuleKind.LmHead => "lm_head",
            _ => throw new ArgumentOutOfRangeException(nameof(module)),
        };

        /// <summary>The Hugging Face module path, without the `.weight` suffix.</summary>
        public static string HfPrefix(this ModuleKind module, int layer) => module switch
        {
            ModuleKind.EmbedTokens => "model.embed_tokens",
            ModuleKind.LmHead => "lm_head",
            ModuleKind.QProj or ModuleKind.KProj or ModuleKind.VProj or ModuleKind.OProj =>
                "model.layers." + layer + ".self_attn." + module.SpecName(),
            _ => "model.layers." + layer + ".mlp." + module.SpecName(),
        };
    }
}
