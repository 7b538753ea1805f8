using System;
using System.Collections.Generic;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace GraphCompiler.Spec
{
    /// <summary>
    /// A YAML document as a tree that keeps every node's span and every mapping entry in order, duplicates included,
    /// so the spec parser can point at the exact key or value that is wrong.
    /// </summary>
    public abstract class YamlTreeNode
    {
        protected YamlTreeNode(SpecLocation location) => Location = location;
        public SpecLocation Location { get; }
    }

    public sealed class YamlScalarNode : YamlTreeNode
    {
        public YamlScalarNode(string value, bool isQuoted, SpecLocation location) : base(location)
        {
            Value = value;
            IsQuoted = isQuoted;
        }

        public string Value { get; }
        public bool IsQuoted { get; }

        /// <summary>A plain `~`, `null` or empty scalar: YAML's way of writing "no value".</summary>
        public bool IsNull => !IsQuoted && (Value.Length == 0 || Value == "~" || Value == "null" || Value == "Null" || Value == "NULL");
    }

    public sealed class YamlSequenceNode : YamlTreeNode
    {
        public YamlSequenceNode(List<YamlTreeNode> items, SpecLocation location) : base(location) => Items = items;
        public IReadOnlyList<YamlTreeNode> Items { get; }
    }

    public sealed class YamlMappingNode : YamlTreeNode
    {
        public YamlMappingNode(List<KeyValuePair<YamlScalarNode, YamlTreeNode>> entries, SpecLocation location) : base(location)
            => Entries = entries;

        public IReadOnlyList<KeyValuePair<YamlScalarNode, YamlTreeNode>> Entries { get; }
    }

    /// <summary>Thrown for YAML the parser cannot read; carries the location YamlDotNet reported.</summary>
    public sealed class YamlTreeException : Exception
    {
        public YamlTreeException(string message, SpecLocation location) : base(message) => Location = location;
        public SpecLocation Location { get; }
    }

    public static class YamlTreeReader
    {
        /// <summary>Reads the first document; returns null for a file with no document (empty or only comments).</summary>
        public static YamlTreeNode? Read(string filePath, string text)
        {
            var parser = new Parser(new System.IO.StringReader(text));
            var anchors = new Dictionary<string, YamlTreeNode>(StringComparer.Ordinal);
            try
            {
                parser.Consume<StreamStart>();
                if (parser.Accept<StreamEnd>(out _)) return null;
                parser.Consume<DocumentStart>();
                var root = ReadNode(parser, filePath, anchors);
                parser.Consume<DocumentEnd>();
                if (!parser.Accept<StreamEnd>(out _))
                {
                    var next = parser.Current!;
                    throw new YamlTreeException("a spec holds one YAML document; remove the second '---' and what follows it",
                        At(filePath, next.Start, next.End));
                }
                return root;
            }
            catch (YamlException e)
            {
                throw new YamlTreeException(Clean(e.Message), At(filePath, e.Start, e.End));
            }
        }

        private static YamlTreeNode ReadNode(IParser parser, string file, Dictionary<string, YamlTreeNode> anchors)
        {
            YamlTreeNode node;
            string? anchor = null;
            if (parser.TryConsume<AnchorAlias>(out var alias))
            {
                if (!anchors.TryGetValue(alias.Value.Value, out var target))
                    throw new YamlTreeException($"alias *{alias.Value} names no anchor defined above it", At(file, alias.Start, alias.End));
                return target;
            }
            if (parser.TryConsume<Scalar>(out var scalar))
            {
                anchor = scalar.Anchor.IsEmpty ? null : scalar.Anchor.Value;
                node = new YamlScalarNode(scalar.Value, scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted,
                    At(file, scalar.Start, scalar.End));
            }
            else if (parser.TryConsume<SequenceStart>(out var seqStart))
            {
                anchor = seqStart.Anchor.IsEmpty ? null : seqStart.Anchor.Value;
                var items = new List<YamlTreeNode>();
                while (!parser.TryConsume<SequenceEnd>(out var seqEnd))
                    items.Add(ReadNode(parser, file, anchors));
                node = new YamlSequenceNode(items, At(file, seqStart.Start, seqStart.End));
            }
            else if (parser.TryConsume<MappingStart>(out var mapStart))
            {
                anchor = mapStart.Anchor.IsEmpty ? null : mapStart.Anchor.Value;
                var entries = new List<KeyValuePair<YamlScalarNode, YamlTreeNode>>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var keyNode = ReadNode(parser, file, anchors);
                    if (keyNode is not YamlScalarNode key)
                        throw new YamlTreeException("mapping keys must be plain names", keyNode.Location);
                    entries.Add(new KeyValuePair<YamlScalarNode, YamlTreeNode>(key, ReadNode(parser, file, anchors)));
                }
                node = new YamlMappingNode(entries, At(file, mapStart.Start, mapStart.End));
            }
            else
            {
                var current = parser.Current!;
                throw new YamlTreeException("unexpected YAML element " + current.GetType().Name, At(file, current.Start, current.End));
            }
            if (anchor != null) anchors[anchor] = node;
            return node;
        }

        private static SpecLocation At(string file, Mark start, Mark end) =>
            new SpecLocation(file, (int)start.Line, (int)start.Column, (int)end.Line, (int)end.Column, (int)start.Index, (int)end.Index);

        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (…): "; the location is reported separately.
        private static string Clean(string message)
        {
            int marker = message.IndexOf("): ", StringComparison.Ordinal);
            return message.StartsWith("(Line:", StringComparison.Ordinal) && marker >= 0 ? message.Substring(marker + 3) : message;
        }
    }
}
