using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Tuning
{
    /// <summary>
    /// What a tuned result is valid for: the GPU (name, compute capability, SM count), the driver and NVRTC that built and
    /// ran the kernels, and the kernel family of a model (its shapes come from the spec, named by its model signature).
    /// </summary>
    public sealed record TuningKey(string Gpu, int ComputeCapability, int Multiprocessors, int DriverVersion, string Nvrtc, string Model, string Family)
    {
        public override string ToString() =>
            $"{Gpu} (sm_{ComputeCapability}, {Multiprocessors} SMs, driver {DriverVersion}, NVRTC {Nvrtc}) {Model} {Family}";

        /// <summary>The key of a family of <paramref name="spec"/> on this GPU, built with NVRTC <paramref name="nvrtc"/> ("13.0").</summary>
        public static TuningKey For(Cuda.CudaDeviceInfo gpu, string nvrtc, ModelSpec spec, TileFamily family) =>
            new TuningKey(gpu.Name, gpu.ComputeCapability, gpu.MultiprocessorCount, gpu.DriverVersion, nvrtc, TuningDatabase.ModelSignature(spec), family.SpecName());
    }

    /// <summary>A family's winning tiles as the spec writes them, with its time and the spec tiles' time at the same shapes.</summary>
    public sealed record TuningEntry(TuningKey Key, string Tiles, double Microseconds, double DefaultMicroseconds)
    {
        public double SpeedUp => DefaultMicroseconds / Microseconds;
    }

    /// <summary>One family's line of `graphc tune --json`.</summary>
    public sealed record TuneReport(string Family, string? DefaultTiles, string Tiles, double DefaultUs, double Us, double SpeedUp,
        int? Measured, int? Pruned, int? FailedChecks);

    /// <summary>
    /// The JSON of the tuning database and report, generated at build time: a trimmed graphc has no reflection-based
    /// serializer.
    /// </summary>
    [JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
    [JsonSerializable(typeof(TuningEntry[]))]
    [JsonSerializable(typeof(TuneReport[]))]
    internal sealed partial class TuningJson : JsonSerializerContext
    {
    }

    /// <summary>
    /// The tuning database: one diff-able JSON file (entries sorted by key, indented) in the user's cache folder. The runtime
    /// takes a family's tuned tiles only when every part of the key matches, and otherwise says it falls back to the spec's.
    /// </summary>
    public sealed class TuningDatabase
    {
        private readonly Dictionary<TuningKey, TuningEntry> _entries = new Dictionary<TuningKey, TuningEntry>();

        public IReadOnlyCollection<TuningEntry> Entries => _entries.Values;

        public const string EnvironmentVariable = "GRAPHC_TUNING_DB";

        /// <summary>GRAPHC_TUNING_DB, else tuning.json in the kernel cache's parent folder (~/.cache/graphcompiler).</summary>
        public static string DefaultPath(Func<string, string?>? environment = null)
        {
            environment ??= Environment.GetEnvironmentVariable;
            string? explicitPath = environment(EnvironmentVariable);
            return !string.IsNullOrEmpty(explicitPath) ? explicitPath!
                : Path.Combine(Path.GetDirectoryName(Compilation.KernelCache.Default(environment).Folder)!, "tuning.json");
        }

        public static TuningDatabase Load(string path)
        {
            var db = new TuningDatabase();
            if (!File.Exists(path)) return db;
            TuningEntry[]? entries;
            try
            {
                entries = JsonSerializer.Deserialize(File.ReadAllText(path), TuningJson.Default.TuningEntryArray);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: not a graphc tuning database ({e.Message}); move it away and tune again", e);
            }
            foreach (var entry in entries ?? Array.Empty<TuningEntry>()) db._entries[entry.Key] = entry;
            return db;
        }

        public void Save(string path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var sorted = _entries.Values.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal).ToArray();
            File.WriteAllText(path, JsonSerializer.Serialize(sorted, TuningJson.Default.TuningEntryArray) + "\n");
        }

        /// <summary>Records a result; a later tuning of the same key replaces the earlier one.</summary>
        public void Set(TuningEntry entry) => _entries[entry.Key] = entry;

        public TuningEntry? Find(TuningKey key) => _entries.TryGetValue(key, out var e) ? e : null;

        /// <summary>The tiles to use for a family, and a sentence saying where they came from.</summary>
        public (string Tiles, string Source) Resolve(TuningKey key, string specTiles)
        {
            if (Find(key) is { } hit)
                return (hit.Tiles, $"tuned on this GPU ({hit.SpeedUp:0.00}× the spec's tiles)");
            var sameGpu = _entries.Keys.Where(k => k.Gpu == key.Gpu && k.Model == key.Model && k.Family == key.Family).ToList();
            string why = sameGpu.Count == 0 ? "no tuned entry for this GPU, model and family"
                : "tuned under " + string.Join(", ", sameGpu.Select(k => $"driver {k.DriverVersion} / NVRTC {k.Nvrtc}")) + ", not this driver and NVRTC";
            return (specTiles, $"the spec's tiles ({why}; run graphc tune)");
        }

        /// <summary>The model part of a key: the spec name and the shapes its kernels specialise on.</summary>
        public static string ModelSignature(ModelSpec spec)
        {
            var m = spec.Model;
            return $"{spec.Name} h{m.HiddenSize} i{m.IntermediateSize} q{m.NumAttentionHeads} kv{m.NumKeyValueHeads} {m.DType.SpecName()}";
        }
    }
}
