using System.Collections.Generic;

namespace GraphCompiler.Spec
{
    /// <summary>
    /// Where each value of a spec came from, by dotted path ("model.hidden_size", "tiles.sm_90.gemm_int4_decode.block_k"),
    /// so rules that look at several values can point at the one to change.
    /// </summary>
    public sealed class SpecSourceMap
    {
        private readonly Dictionary<string, SpecLocation> _locations = new Dictionary<string, SpecLocation>();
        private readonly Dictionary<(ModuleKind, int), string> _schemeOrigins = new Dictionary<(ModuleKind, int), string>();

        public SpecSourceMap(string filePath) => FilePath = filePath;

        public string FilePath { get; }

        public void Add(string path, SpecLocation location) => _locations[path] = location;

        public bool Contains(string path) => _locations.ContainsKey(path);

        /// <summary>Records the path of the value that decided the scheme of a module in a layer (any layer for embed_tokens and lm_head).</summary>
        internal void AddSchemeOrigin(ModuleKind module, int layer, string path) => _schemeOrigins[(module, module.IsLayerModule() ? layer : -1)] = path;

        /// <summary>
        /// The path of the value that decided the scheme of <paramref name="module"/> in <paramref name="layer"/> after
        /// overrides resolved: "quantization.default.scheme", "quantization.overrides[2].scheme", or "model.dtype" where the
        /// activation dtype applies; "quantization" when the spec did not resolve. <see cref="Get"/> turns it into a location.
        /// </summary>
        public string SchemeOrigin(ModuleKind module, int layer) =>
            _schemeOrigins.TryGetValue((module, module.IsLayerModule() ? layer : -1), out var path) ? path : "quantization";

        /// <summary>The location of <paramref name="path"/>, else of its nearest parent that appears in the file, else the file's start.</summary>
        public SpecLocation Get(string path)
        {
            for (var p = path; p.Length > 0; p = Parent(p))
                if (_locations.TryGetValue(p, out var location)) return location;
            return SpecLocation.StartOf(FilePath);
        }

        private static string Parent(string path)
        {
            int cut = path.LastIndexOfAny(new[] { '.', '[' });
            return cut <= 0 ? "" : path.Substring(0, cut);
        }
    }
}
