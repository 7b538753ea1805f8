using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>The resolved scheme of every module of one decoder layer.</summary>
    public sealed record LayerQuantization(
        QuantScheme QProj, QuantScheme KProj, QuantScheme VProj, QuantScheme OProj,
        QuantScheme GateProj, QuantScheme UpProj, QuantScheme DownProj)
    {
        public QuantScheme For(ModuleKind module) => module switch
        {
            ModuleKind.QProj => QProj,
            ModuleKind.KProj => KProj,
            ModuleKind.VProj => VProj,
            ModuleKind.OProj => OProj,
            ModuleKind.GateProj => GateProj,
            ModuleKind.UpProj => UpProj,
            ModuleKind.DownProj => DownProj,
            _ => throw new System.ArgumentOutOfRangeException(nameof(module), module, "not a decoder-layer module"),
        };
    }

    /// <summary>`quantization:` after the default and the overrides are resolved: one scheme per module per layer.</summary>
    public sealed record QuantizationSpec(QuantScheme EmbedTokens, QuantScheme LmHead, EquatableArray<LayerQuantization> Layers)
    {
        public QuantScheme For(ModuleKind module, int layer) => module switch
        {
            ModuleKind.EmbedTokens => EmbedTokens,
            ModuleKind.LmHead => LmHead,
            _ => Layers[layer].For(module),
        };
    }
}
