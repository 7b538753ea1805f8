using System;
using System.Linq;
using GraphCompiler.Spec;

namespace GraphCompiler.Tuning
{
    /// <summary>
    /// Writes tuned tiles into a spec's text: `tiles: &lt;arch&gt;: &lt;family&gt;: { … }`, replacing that family's value, or adding the
    /// family, the architecture or the whole `tiles:` section where missing. Only those characters change: comments,
    /// key order and formatting of the rest of the file stay as they were, so the next build specialises the kernels for
    /// the tuned GPU and the diff shows just the new tiles.
    /// </summary>
    public static class SpecTileWriter
    {
        public static string Write(string path, string text, GpuArch arch, TileFamily family, string flowMapping)
        {
            var root = YamlTreeReader.Read(path, text) as YamlMappingNode
                ?? throw new FormatException($"{path}: the spec is not a mapping of sections; fix it before writing tiles into it");
            string newline = text.Contains("\r\n") ? "\r\n" : "\n";
            var tiles = Find(root, "tiles", StringComparison.Ordinal);
            if (tiles is null)
                return AppendLines(text, newline, "tiles:", $"  {arch.Name}:", $"    {family.SpecName()}: {flowMapping}");
            if (tiles.Value.Value is not YamlMappingNode archs)
                throw new FormatException($"{path}:{tiles.Value.Value.Location.StartLine}: 'tiles' must be a mapping of architectures to write tuned tiles into it");

            var archEntry = Find(archs, arch.Name, StringComparison.OrdinalIgnoreCase);
            if (archEntry is null)
            {
                string indent = new string(' ', archs.Entries[0].Key.Location.StartColumn - 1);
                return InsertAfter(text, archs, newline, $"{indent}{arch.Name}:", $"{indent}  {family.SpecName()}: {flowMapping}");
            }
            if (archEntry.Value.Value is not YamlMappingNode families)
                throw new FormatException($"{path}:{archEntry.Value.Value.Location.StartLine}: 'tiles.{arch.Name}' must be a mapping of kernel families");

            var familyEntry = Find(families, family.SpecName(), StringComparison.Ordinal);
            if (familyEntry is null)
            {
                string indent = new string(' ', families.Entries[0].Key.Location.StartColumn - 1);
                return InsertAfter(text, families, newline, $"{indent}{family.SpecName()}: {flowMapping}");
            }
            // From just after "family:" to the end of its value: a flow or block mapping becomes the new flow mapping.
            var value = familyEntry.Value.Value;
            int start = familyEntry.Value.Key.Location.EndOffset;
            int end = text[value.Location.StartOffset] == '{' ? text.IndexOf('}', EndOfLastValue(value)) + 1 : EndOfLastValue(value);
            int colon = text.IndexOf(':', start);
            return text.Substring(0, colon + 1) + " " + flowMapping + text.Substring(end);
        }

        private static KeyValue? Find(YamlMappingNode mapping, string key, StringComparison comparison)
        {
            foreach (var entry in mapping.Entries)
                if (string.Equals(entry.Key.Value, key, comparison)) return new KeyValue(entry.Key, entry.Value);
            return null;
        }

        private readonly record struct KeyValue(YamlScalarNode Key, YamlTreeNode Value);

        /// <summary>New lines after the line holding the last value of <paramref name="mapping"/> (a trailing comment stays on its line).</summary>
        private static string InsertAfter(string text, YamlMappingNode mapping, string newline, params string[] lines)
        {
            int lineEnd = text.IndexOf('\n', EndOfLastValue(mapping));
            string block = string.Concat(lines.Select(l => l + newline));
            return lineEnd < 0 ? text + newline + block.TrimEnd('\r', '\n') + newline : text.Substring(0, lineEnd + 1) + block + text.Substring(lineEnd + 1);
        }

        private static int EndOfLastValue(YamlTreeNode node) => node switch
        {
            YamlMappingNode { Entries.Count: > 0 } m => EndOfLastValue(m.Entries[m.Entries.Count - 1].Value),
            YamlSequenceNode { Items.Count: > 0 } q => EndOfLastValue(q.Items[q.Items.Count - 1]),
            _ => node.Location.EndOffset,
        };

        private static string AppendLines(string text, string newline, params string[] lines)
        {
            string body = text.EndsWith("\n", StringComparison.Ordinal) || text.Length == 0 ? text : text + newline;
            return body + newline + string.Concat(lines.Select(l => l + newline));
        }
    }
}
