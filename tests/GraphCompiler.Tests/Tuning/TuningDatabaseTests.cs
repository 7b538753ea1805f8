using System;
using System.IO;
using System.Linq;
using GraphCompiler.Runtime.Tuning;

namespace GraphCompiler.Tests.Tuning
{
    /// <summary>The tuning database: keyed by GPU, driver, NVRTC, model and family; a diff-able file; a clear fallback.</summary>
    public class TuningDatabaseTests
    {
        private static readonly TuningKey H100 = new TuningKey("NVIDIA H100 80GB HBM3", 90, 132, 13000, "13.0", "llama2-70b h8192 i28672 q64 kv8 fp16", "gemm_int4_decode");
        private const string Tuned = "{ block_m: 16, block_n: 256, block_k: 128, warps: 8, stages: 4, split_k: 0 }";
        private const string SpecTiles = "{ block_m: 16, block_n: 256, block_k: 64, warps: 8, stages: 4, split_k: 0 }";

        [Fact]
        public void A_result_survives_a_round_trip_through_its_file_and_is_used_only_for_its_exact_key()
        {
            string path = Path.Combine(Path.GetTempPath(), "graphc-tuning-" + Guid.NewGuid().ToString("N") + ".json");
            try
            {
                var db = new TuningDatabase();
                db.Set(new TuningEntry(H100, Tuned, 81.2, 84.0));
                db.Save(path);
                var loaded = TuningDatabase.Load(path);
                Assert.Equal(Tuned, loaded.Resolve(H100, SpecTiles).Tiles);
                Assert.Contains("tuned on this GPU (1.03×", loaded.Resolve(H100, SpecTiles).Source);

                var newDriver = H100 with { DriverVersion = 13010 };
                var (tiles, source) = loaded.Resolve(newDriver, SpecTiles);
                Assert.Equal(SpecTiles, tiles);
                Assert.Contains("tuned under driver 13000 / NVRTC 13.0, not this driver and NVRTC", source);
                Assert.Contains("no tuned entry", loaded.Resolve(H100 with { Gpu = "NVIDIA A100-SXM4-80GB" }, SpecTiles).Source);
                Assert.Contains("\"tiles\": \"{ block_m: 16", File.ReadAllText(path));   // readable, diff-able JSON
            }
            finally
            {
                File.Delete(path);
            }
        }

        [Fact]
        public void Entries_are_saved_in_key_order_and_a_retune_replaces_its_entry()
        {
            string path = Path.Combine(Path.GetTempPath(), "graphc-tuning-" + Guid.NewGuid().ToString("N") + ".json");
            try
            {
                var db = new TuningDatabase();
                db.Set(new TuningEntry(H100 with { Family = "gemm_fp8_decode" }, Tuned, 100, 110));
                db.Set(new TuningEntry(H100, Tuned, 90, 84));
                db.Set(new TuningEntry(H100, Tuned, 81, 84));
                db.Save(path);
                var loaded = TuningDatabase.Load(path);
                Assert.Equal(2, loaded.Entries.Count);
                Assert.Equal(81, loaded.Find(H100)!.Microseconds);
                string text = File.ReadAllText(path);
                Assert.True(text.IndexOf("gemm_fp8_decode", StringComparison.Ordinal) < text.IndexOf("gemm_int4_decode", StringComparison.Ordinal));
            }
            finally
            {
                File.Delete(path);
            }
        }

        [Fact]
        public void A_corrupt_file_is_refused_with_what_to_do()
        {
            string path = Path.Combine(Path.GetTempPath(), "graphc-tuning-" + Guid.NewGuid().ToString("N") + ".json");
            File.WriteAllText(path, "{ not json");
            try
            {
                var e = Assert.Throws<InvalidDataException>(() => TuningDatabase.Load(path));
                Assert.Contains("move it away and tune again", e.Message);
            }
            finally
            {
                File.Delete(path);
            }
        }

        [Fact]
        public void The_database_lives_beside_the_kernel_cache_unless_named()
        {
            Assert.Equal("/x/tuning.json", TuningDatabase.DefaultPath(v => v == TuningDatabase.EnvironmentVariable ? "/x/tuning.json" : null));
            Assert.Equal(Path.Combine("/c", "graphcompiler", "tuning.json"), TuningDatabase.DefaultPath(v => v == "XDG_CACHE_HOME" ? "/c" : null));
        }
    }
}
