using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Spec;
using GraphCompiler.Tuning;

namespace GraphCompiler.Runtime.Tuning
{
    /// <summary>Which tiles a kernel family runs with, and why: the tuning database's winner for this GPU, or the spec's.</summary>
    public sealed record TileChoice(TileFamily Family, string Tiles, bool Tuned, string Source);

    /// <summary>A model recompiled with the tiles it will run with, and each tunable family's choice.</summary>
    public sealed record TunedModel(CompiledModel Model, IReadOnlyList<TileChoice> Choices)
    {
        public bool AnyTuned => Choices.Any(c => c.Tuned);
    }

    /// <summary>
    /// The runtime's side of tuning: for each family the model runs on this GPU, the database's tiles when every part of
    /// the key matches (GPU, SM count, driver, NVRTC, model), else the spec's. Tuned tiles are written into the spec's text
    /// exactly as `graphc tune --write-spec` would (<see cref="SpecTileWriter"/>) and the spec compiled again, so running
    /// with the database and rebuilding after --write-spec give the same kernels and the same plan. A spec changed since
    /// tuning in a way that rejects the tuned tiles falls back to its own tiles, saying so. A split model's families are its
    /// rank's (<see cref="CompiledModel.Rank"/>: what each GPU runs, tuned under that model's signature by graphc tune --tp),
    /// and the split is kept through the recompilation.
    /// </summary>
    public static class TunedTiles
    {
        /// <summary>
        /// The model to run on <paramref name="gpu"/>: with <paramref name="useTuned"/>, recompiled with the tuning
        /// database's tiles (its default place, <see cref="TuningDatabase.DefaultPath"/>) where it holds them for this GPU,
        /// driver, NVRTC and model; else as compiled. Says which tiles each family runs with, one line a source.
        /// </summary>
        public static CompiledModel ForGpu(CompiledModel model, string specPath, string specText, CudaDeviceInfo gpu, bool useTuned, Action<string> log)
        {
            var arch = gpu.TileArch;
            if (!useTuned)
            {
                log($"tiles: the spec's tiles.{arch.Name} (tuned tiles not asked for)");
                return model;
            }
            var db = TuningDatabase.Load(TuningDatabase.DefaultPath());
            string nvrtc = Nvrtc.NvrtcCompiler.VersionText;
            var tuned = Apply(model, specPath, specText, arch, f => TuningKey.For(gpu, nvrtc, model.Rank.Spec, f), db);
            foreach (var c in tuned.Choices.Where(c => c.Tuned))
                log($"tiles of {c.Family.SpecName()}: {c.Tiles}, {c.Source}");
            foreach (var group in tuned.Choices.Where(c => !c.Tuned).GroupBy(c => c.Source))
                log($"tiles of {string.Join(", ", group.Select(c => c.Family.SpecName()))}: {group.Key}");
            return tuned.Model;
        }

        public static TunedModel Apply(CompiledModel model, string specPath, string specText, GpuArch arch, Func<TileFamily, TuningKey> key, TuningDatabase db)
        {
            var spec = model.Spec;
            var choices = new List<TileChoice>();
            string text = specText;
            foreach (var family in TileTuner.Families(model.Rank, arch))
            {
                string own = TileSearchSpace.Describe(spec.Tiles.For(arch), family);
                var (tiles, source) = db.Resolve(key(family), own);
                bool tuned = tiles != own;
                if (tuned) text = SpecTileWriter.Write(specPath, text, arch, family, tiles);
                choices.Add(new TileChoice(family, tiles, tuned, source));
            }
            if (!choices.Any(c => c.Tuned)) return new TunedModel(model, choices);

            var (parse, retiled) = ModelCompiler.Compile(specPath, text);
            if (retiled is null)
            {
                string why = string.Join("; ", parse.Diagnostics.Where(d => d.IsError).Select(d => d.Message));
                return new TunedModel(model, choices.Select(c => c.Tuned
                    ? c with { Tiles = TileSearchSpace.Describe(spec.Tiles.For(arch), c.Family), Tuned = false,
                        Source = $"the spec's tiles (the tuned {c.Tiles} no longer pass the spec's rules: {why}; run graphc tune --force)" }
                    : c).ToList());
            }
            // A split asked for outside the text (--tp) is applied again.
            if (retiled.Spec.Parallel != spec.Parallel) retiled = ModelCompiler.Compile(retiled.Spec with { Parallel = spec.Parallel });
            return new TunedModel(retiled, choices);
        }
    }
}
