using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>Collects diagnostics and locations while a spec is read. Errors are collected, never thrown.</summary>
    internal sealed class SpecDiagnosticSink
    {
        public SpecDiagnosticSink(string filePath) => Map = new SpecSourceMap(filePath);

        public List<SpecDiagnostic> Diagnostics { get; } = new List<SpecDiagnostic>();
        public SpecSourceMap Map { get; }

        public void Error(string id, string message, SpecLocation location) =>
            Diagnostics.Add(new SpecDiagnostic(id, SpecSeverity.Error, message, location));

        public void Warning(string id, string message, SpecLocation location) =>
            Diagnostics.Add(new SpecDiagnostic(id, SpecSeverity.Warning, message, location));

        public void Error(string id, string message, string path) => Error(id, message, Map.Get(path));

        /// <summary>Views <paramref name="node"/> as a mapping with the given keys; reports a type error and returns null otherwise.</summary>
        public MappingView? Mapping(YamlTreeNode? node, string path, IReadOnlyCollection<string> keys)
        {
            if (node is null || node is YamlScalarNode { IsNull: true }) return null;
            if (node is YamlMappingNode mapping) return new MappingView(this, mapping, path, keys);
            Error(SpecDiagnosticIds.WrongType, $"'{path}' must be a mapping of keys ({string.Join(", ", keys)})", node.Location);
            return null;
        }
    }

    /// <summary>
    /// One YAML mapping of a spec with its allowed keys: reports unknown keys (with the nearest valid one), duplicates,
    /// missing and mistyped values, and records each value's location under its dotted path.
    /// </summary>
    internal sealed class MappingView
    {
        private readonly SpecDiagnosticSink _sink;
        private readonly Dictionary<string, KeyValuePair<YamlScalarNode, YamlTreeNode>> _entries =
            new Dictionary<string, KeyValuePair<YamlScalarNode, YamlTreeNode>>(StringComparer.Ordinal);

        public MappingView(SpecDiagnosticSink sink, YamlMappingNode node, string path, IReadOnlyCollection<string> keys)
        {
            _sink = sink;
            Node = node;
            Path = path;
            foreach (var entry in node.Entries)
            {
                string key = entry.Key.Value;
                if (!keys.Contains(key))
                {
                    string? near = Nearest(key, keys);
                    sink.Error(SpecDiagnosticIds.UnknownKey,
                        $"unknown key '{key}' in '{DisplayPath}'" + (near != null ? $"; did you mean '{near}'?" : "")
                        + $" Valid keys: {string.Join(", ", keys)}", entry.Key.Location);
                    continue;
                }
                if (_entries.ContainsKey(key))
                {
                    sink.Error(SpecDiagnosticIds.DuplicateKey,
                        $"key '{key}' appears twice in '{DisplayPath}' (first at line {_entries[key].Key.Location.StartLine}); keep one",
                        entry.Key.Location);
                    continue;
                }
                _entries[key] = entry;
                sink.Map.Add(Child(key), entry.Value is YamlScalarNode ? entry.Value.Location : entry.Key.Location);
            }
        }

        public YamlMappingNode Node { get; }
        public string Path { get; }
        private string DisplayPath => Path.Length == 0 ? "(top level)" : Path;

        public string Child(string key) => Path.Length == 0 ? key : Path + "." + key;

        public IEnumerable<KeyValuePair<YamlScalarNode, YamlTreeNode>> Entries => _entries.Values;

        public bool Has(string key) => Value(key) != null;

        /// <summary>The value node, or null when the key is absent or its value is YAML null.</summary>
        public YamlTreeNode? Value(string key) =>
            _entries.TryGetValue(key, out var e) && !(e.Value is YamlScalarNode { IsNull: true }) ? e.Value : null;

        public SpecLocation KeyLocation(string key) => _entries.TryGetValue(key, out var e) ? e.Key.Location : Node.Location;

        public SpecLocation ValueLocation(string key) => _entries.TryGetValue(key, out var e) ? e.Value.Location : Node.Location;

        public bool Require(string key, string what)
        {
            if (Has(key)) return true;
            _sink.Error(SpecDiagnosticIds.MissingKey, $"'{DisplayPath}' needs '{key}': {what}", Node.Location);
            return false;
        }

        public int? Int(string key, int min, int max)
        {
            var scalar = Scalar(key, "an integer");
            if (scalar is null) return null;
            if (!long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            {
                _sink.Error(SpecDiagnosticIds.WrongType, $"'{Child(key)}' must be an integer, not '{scalar.Value}'", scalar.Location);
                return null;
            }
            if (value < min || value > max)
            {
                _sink.Error(SpecDiagnosticIds.OutOfRange,
                    $"'{Child(key)}' is {value}; allowed: {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}",
                    scalar.Location);
                return null;
            }
            return (int)value;
        }

        public double? Number(string key, double min, double max, bool minExclusive)
        {
            var scalar = Scalar(key, "a number");
            if (scalar is null) return null;
            if (!double.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                || double.IsNaN(value) || double.IsInfinity(value))
            {
                _sink.Error(SpecDiagnosticIds.WrongType, $"'{Child(key)}' must be a number, not '{scalar.Value}'", scalar.Location);
                return null;
            }
            if (value < min || value > max || (minExclusive && value == min))
            {
                _sink.Error(SpecDiagnosticIds.OutOfRange,
                    $"'{Child(key)}' is {scalar.Value}; allowed: {(minExclusive ? "above " : "")}{min.ToString("R", CultureInfo.InvariantCulture)} to {max.ToString("R", CultureInfo.InvariantCulture)}",
                    scalar.Location);
                return null;
            }
            return value;
        }

        public bool? Bool(string key)
        {
            var scalar = Scalar(key, "true or false");
            if (scalar is null) return null;
            switch (scalar.Value)
            {
                case "true": case "True": case "TRUE": return true;
                case "false": case "False": case "FALSE": return false;
            }
            _sink.Error(SpecDiagnosticIds.WrongType, $"'{Child(key)}' must be true or false, not '{scalar.Value}'", scalar.Location);
            return null;
        }

        public string? String(string key) => Scalar(key, "a string")?.Value;

        public T? Choice<T>(string key, IReadOnlyList<(string Name, T Value)> choices) where T : struct
        {
            var scalar = Scalar(key, "one of " + string.Join(", ", choices.Select(c => c.Name)));
            if (scalar is null) return null;
            return ChoiceOf(_sink, scalar, Child(key), choices);
        }

        public static T? ChoiceOf<T>(SpecDiagnosticSink sink, YamlScalarNode scalar, string path, IReadOnlyList<(string Name, T Value)> choices)
            where T : struct
        {
            foreach (var (name, value) in choices)
                if (string.Equals(name, scalar.Value, StringComparison.Ordinal)) return value;
            var names = choices.Select(c => c.Name).Distinct().ToList();
            string? near = Nearest(scalar.Value, names);
            sink.Error(SpecDiagnosticIds.InvalidEnum,
                $"'{path}' is '{scalar.Value}'" + (near != null ? $"; did you mean '{near}'?" : "") + $" Valid values: {string.Join(", ", names)}",
                scalar.Location);
            return null;
        }

        public long? Bytes(string key)
        {
            var scalar = Scalar(key, ByteSize.Accepted);
            if (scalar is null) return null;
            if (ByteSize.TryParse(scalar.Value, out long bytes)) return bytes;
            _sink.Error(SpecDiagnosticIds.BadByteSize, $"'{Child(key)}' is '{scalar.Value}'; expected {ByteSize.Accepted}", scalar.Location);
            return null;
        }

        private YamlScalarNode? Scalar(string key, string expected)
        {
            var node = Value(key);
            if (node is null) return null;
            if (node is YamlScalarNode scalar) return scalar;
            _sink.Error(SpecDiagnosticIds.WrongType, $"'{Child(key)}' must be {expected}, not a {(node is YamlMappingNode ? "mapping" : "list")}", node.Location);
            return null;
        }

        /// <summary>The closest candidate by edit distance, when it is close enough to be a likely typo.</summary>
        public static string? Nearest(string word, IEnumerable<string> candidates)
        {
            string? best = null;
            int bestDistance = int.MaxValue;
            foreach (var candidate in candidates)
            {
                int d = EditDistance(word.ToLowerInvariant(), candidate.ToLowerInvariant());
                if (d < bestDistance) { bestDistance = d; best = candidate; }
            }
            return best != null && bestDistance <= Math.Max(2, best.Length / 3) ? best : null;
        }

        private static int EditDistance(string a, string b)
        {
            var previous = new int[b.Length + 1];
            var current = new int[b.Length + 1];
            for (int j = 0; j <= b.Length; j++) previous[j] = j;
            for (int i = 1; i <= a.Length; i++)
            {
                current[0] = i;
                for (int j = 1; j <= b.Length; j++)
                {
                    int substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                    current[j] = Math.Min(substitute, Math.Min(previous[j] + 1, current[j - 1] + 1));
                }
                (previous, current) = (current, previous);
            }
            return previous[b.Length];
        }
    }
}
