using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GraphCompiler.Kernels;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Runtime
{
    public class KernelCacheTests : IDisposable
    {
        private readonly string _folder = Path.Combine(Path.GetTempPath(), "graphc-cache-" + Guid.NewGuid().ToString("N"));
        private static readonly KernelSource Kernel = TestSpecs.Compile("small-llama").KernelsFor(GpuArch.Sm80).First(k => k.IsEmitted);

        public void Dispose()
        {
            if (Directory.Exists(_folder)) Directory.Delete(_folder, true);
        }

        [Fact]
        public void The_key_changes_with_the_source_the_arch_and_the_nvrtc_version_and_nothing_else()
        {
            string key = KernelCache.Key(Kernel, "sm_80", (12, 4));
            Assert.Equal(key, KernelCache.Key(Kernel with { Summary = "other words" }, "sm_80", (12, 4)));
            Assert.NotEqual(key, KernelCache.Key(Kernel with { Source = Kernel.Source + " " }, "sm_80", (12, 4)));
            Assert.NotEqual(key, KernelCache.Key(Kernel, "sm_90", (12, 4)));
            Assert.NotEqual(key, KernelCache.Key(Kernel, "sm_80", (13, 0)));
        }

        [Fact]
        public void An_entry_reads_back_exactly_what_was_written()
        {
            var cache = new KernelCache(_folder);
            string path = cache.PathFor(Kernel, "sm_80", (12, 4));
            var cubin = Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray();
            cache.Write(path, cubin);
            Assert.Equal(cubin, cache.TryRead(path));
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
        }

        [Theory]
        [InlineData("flip")]
        [InlineData("truncate")]
        [InlineData("empty")]
        public void A_damaged_entry_is_not_trusted_and_is_deleted(string damage)
        {
            var cache = new KernelCache(_folder);
            string path = cache.PathFor(Kernel, "sm_80", (12, 4));
            cache.Write(path, Enumerable.Repeat((byte)0xAB, 4096).ToArray());
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, damage switch
            {
                "flip" => bytes.Select((b, i) => i == bytes.Length - 10 ? (byte)(b ^ 1) : b).ToArray(),
                "truncate" => bytes.Take(bytes.Length / 2).ToArray(),
                _ => Array.Empty<byte>(),
            });
            Assert.Null(cache.TryRead(path));
            Assert.False(File.Exists(path));
        }

        [Fact]
        public void Concurrent_writers_of_one_entry_leave_a_valid_entry()
        {
            var cache = new KernelCache(_folder);
            string path = cache.PathFor(Kernel, "sm_80", (12, 4));
            var cubin = Enumerable.Range(0, 1 << 16).Select(i => (byte)i).ToArray();
            Parallel.For(0, 16, _ => cache.Write(path, cubin));
            Assert.Equal(cubin, cache.TryRead(path));
        }

        [Fact]
        public void Temporaries_left_by_a_killed_writer_are_ignored_and_stale_ones_removed()
        {
            var cache = new KernelCache(_folder);
            string path = cache.PathFor(Kernel, "sm_80", (12, 4));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string stale = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".123.abc.tmp");
            string fresh = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".456.def.tmp");
            File.WriteAllBytes(stale, new byte[] { 1, 2, 3 });
            File.WriteAllBytes(fresh, new byte[] { 1, 2, 3 });
            File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddHours(-2));
            Assert.Null(cache.TryRead(path));
            Assert.Equal(1, cache.RemoveStaleTemporaries());
            Assert.False(File.Exists(stale));
            Assert.True(File.Exists(fresh));
        }

        [Fact]
        public void The_default_folder_follows_graphc_cache_dir_then_xdg_cache_home()
        {
            Assert.Equal("/x/kernels", KernelCache.Default(n => n == KernelCache.EnvironmentVariable ? "/x/kernels" : null).Folder);
            Assert.Equal("/xdg/graphcompiler/kernels", KernelCache.Default(n => n == "XDG_CACHE_HOME" ? "/xdg" : null).Folder);
        }
    }
}
