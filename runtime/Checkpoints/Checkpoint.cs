using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace GraphCompiler.Runtime.Checkpoints
{
    /// <summary>
    /// A Hugging Face checkpoint: one model.safetensors, or shards listed by model.safetensors.index.json, plus the
    /// quantization its config files declare. Tensors are looked up by Hugging Face name; their bytes stay mapped until
    /// the checkpoint is disposed.
    /// </summary>
    public sealed class Checkpoint : IDisposable
    {
        public const string SingleFile = "model.safetensors";
        public const string IndexFile = "model.safetensors.index.json";

        /// <summary>How many index/shard disagreements a message lists before it counts the rest.</summary>
        private const int ListedProblems = 20;

        private readonly List<SafetensorsFile> _shards;
        private readonly Dictionary<string, SafetensorsTensor> _byName = new(StringComparer.Ordinal);

        private Checkpoint(string path, string folder, string? indexPath, List<SafetensorsFile> shards, IReadOnlyDictionary<string, string> indexMetadata)
        {
            Path = path;
            IndexPath = indexPath;
            _shards = shards;
            IndexMetadata = indexMetadata;
            foreach (var t in shards.SelectMany(s => s.Tensors)) _byName.Add(t.Name, t);
            Tensors = _byName.Values.OrderBy(t => t.Name, TensorNames.NaturalOrder).ToList();
            Quantization = CheckpointQuantization.Detect(folder, Tensors, _byName.ContainsKey);
        }

        /// <summary>The folder or file the checkpoint was opened from.</summary>
        public string Path { get; }

        /// <summary>model.safetensors.index.json when sharded, else null.</summary>
        public string? IndexPath { get; }

        public IReadOnlyList<SafetensorsFile> Shards => _shards;

        /// <summary>Every tensor of every shard, in natural name order (layer 2 before layer 10).</summary>
        public IReadOnlyList<SafetensorsTensor> Tensors { get; }

        /// <summary>The index's "metadata" (e.g. total_size); values that are not strings keep their JSON text.</summary>
        public IReadOnlyDictionary<string, string> IndexMetadata { get; }

        public CheckpointQuantization Quantization { get; }

        public long TotalBytes => Tensors.Sum(t => t.ByteLength);

        public bool TryGet(string name, out SafetensorsTensor tensor) => _byName.TryGetValue(name, out tensor!);

        /// <summary>
        /// Opens a folder (model.safetensors, else the index, else its only .safetensors file — the order transformers
        /// uses), an index file, or one .safetensors file. Malformed files are a <see cref="CheckpointException"/>.
        /// </summary>
        public static Checkpoint Open(string path)
        {
            string folder;
            string? single = null, index = null;
            if (Directory.Exists(path))
            {
                folder = path;
                if (File.Exists(System.IO.Path.Combine(folder, SingleFile))) single = System.IO.Path.Combine(folder, SingleFile);
                else if (File.Exists(System.IO.Path.Combine(folder, IndexFile))) index = System.IO.Path.Combine(folder, IndexFile);
                else
                {
                    var found = Directory.GetFiles(folder, "*.safetensors").Order(StringComparer.Ordinal).ToArray();
                    if (found.Length != 1)
                        throw new CheckpointException(found.Length == 0
                            ? $"{path}: no {SingleFile}, no {IndexFile} and no other .safetensors file; give a Hugging Face model folder or a .safetensors file"
                            : $"{path}: {found.Length} .safetensors files ({string.Join(", ", found.Select(System.IO.Path.GetFileName))}) but no {IndexFile} to say which tensor is where; add the index or give one file");
                    single = found[0];
                }
            }
            else if (File.Exists(path))
            {
                folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
                if (path.EndsWith(".index.json", StringComparison.Ordinal)) index = path;
                else single = path;
            }
            else throw new CheckpointException($"{path}: no such file or folder");

            var (shards, metadata) = index != null ? OpenShards(index, folder) : (new List<SafetensorsFile> { SafetensorsFile.Open(single!) }, new Dictionary<string, string>());
            try
            {
                return new Checkpoint(path, folder, index, shards, metadata);
            }
            catch
            {
                foreach (var shard in shards) shard.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            foreach (var shard in _shards) shard.Dispose();
        }

        private static (List<SafetensorsFile>, Dictionary<string, string>) OpenShards(string indexPath, string folder)
        {
            var listed = new Dictionary<string, string>(StringComparer.Ordinal);   // tensor → shard file name
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            using (var index = JsonFiles.ReadObject(indexPath))
            {
                var root = index.RootElement;
                if (JsonFiles.Value(root, "metadata") is JsonElement m)
                {
                    if (m.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{indexPath}: 'metadata' must be an object, not {m.GetRawText()}");
                    foreach (var p in m.EnumerateObject()) metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
                }
                if (JsonFiles.Value(root, "weight_map") is not JsonElement { ValueKind: JsonValueKind.Object } map)
                    throw new CheckpointException($"{indexPath}: no 'weight_map' object (tensor name → shard file); the index is damaged. Download it again");
                foreach (var p in map.EnumerateObject())
                {
                    string? shard = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
                    // Shards sit beside the index: a path would let an index reach any file on the machine.
                    if (string.IsNullOrEmpty(shard) || System.IO.Path.GetFileName(shard) != shard || shard is "." or "..")
                        throw new CheckpointException($"{indexPath}: weight_map gives '{p.Name}' the shard {p.Value.GetRawText()}; a shard must be a file name in the index's folder");
                    listed[p.Name] = shard;   // duplicate names were refused when the file was read
                }
            }

            var problems = new List<string>();
            var shards = new List<SafetensorsFile>();
            try
            {
                foreach (var group in listed.GroupBy(e => e.Value, e => e.Key))
                {
                    string file = System.IO.Path.Combine(folder, group.Key);
                    if (!File.Exists(file))
                    {
                        problems.Add($"shard '{group.Key}' does not exist; the index places {group.Count()} tensor(s) in it, e.g. '{group.First()}'");
                        continue;
                    }
                    var shard = SafetensorsFile.Open(file);
                    shards.Add(shard);
                    foreach (string name in group.Where(n => !shard.TryGet(n, out _)))
                        problems.Add($"'{name}' is listed in shard '{group.Key}', which does not hold it");
                    foreach (var t in shard.Tensors)
                    {
                        if (!listed.TryGetValue(t.Name, out string? listedShard))
                            problems.Add($"shard '{group.Key}' holds '{t.Name}', which the index does not list");
                        else if (listedShard != group.Key)
                            problems.Add($"shard '{group.Key}' holds '{t.Name}', which the index places in '{listedShard}'");
                    }
                }
                if (problems.Count > 0)
                    throw new CheckpointException($"{indexPath}: the index and its shards disagree ({problems.Count} problem(s)); download the checkpoint again or regenerate the index:\n  "
                        + string.Join("\n  ", problems.Take(ListedProblems))
                        + (problems.Count > ListedProblems ? $"\n  … and {problems.Count - ListedProblems} more" : ""));
                return (shards, metadata);
            }
            catch
            {
                foreach (var shard in shards) shard.Dispose();
                throw;
            }
        }
    }
}
