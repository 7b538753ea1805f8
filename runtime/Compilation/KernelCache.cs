using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using GraphCompiler.Kernels;
using GraphCompiler.Runtime.Nvrtc;

namespace GraphCompiler.Runtime.Compilation
{
    /// <summary>
    /// CUBINs on disk, keyed by a hash of the kernel source, the target architecture, the NVRTC version and the compile
    /// options. Entries are written to a temporary file and renamed into place, so concurrent processes and a process
    /// killed mid-compile never leave a half-written entry under a real name; each entry carries a SHA-256 of its
    /// payload, and an entry that fails the check is deleted and rebuilt, never trusted.
    /// </summary>
    public sealed class KernelCache
    {
        public const string EnvironmentVariable = "GRAPHC_CACHE_DIR";
        private static readonly byte[] Magic = Encoding.ASCII.GetBytes("GCCUBIN1");
        private const int HashBytes = 32;

        public KernelCache(string folder) => Folder = folder;

        public string Folder { get; }

        /// <summary>GRAPHC_CACHE_DIR, else $XDG_CACHE_HOME/graphcompiler/kernels, else ~/.cache/graphcompiler/kernels.</summary>
        public static KernelCache Default(Func<string, string?>? environment = null)
        {
            environment ??= Environment.GetEnvironmentVariable;
            string? explicitFolder = environment(EnvironmentVariable);
            if (!string.IsNullOrEmpty(explicitFolder)) return new KernelCache(explicitFolder!);
            string? xdg = environment("XDG_CACHE_HOME");
            string root = !string.IsNullOrEmpty(xdg) ? xdg! : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return new KernelCache(Path.Combine(root, "graphcompiler", "kernels"));
        }

        /// <summary>The key: everything that changes the CUBIN. Options are NvrtcCompiler's, which depend only on the arch.</summary>
        public static string Key(KernelSource kernel, string arch, (int Major, int Minor) nvrtcVersion)
        {
            string material = string.Join("\n", kernel.Source, arch,
                nvrtcVersion.Major.ToString(CultureInfo.InvariantCulture) + "." + nvrtcVersion.Minor.ToString(CultureInfo.InvariantCulture),
                string.Join(" ", NvrtcCompiler.Options(arch)));
            return Hex(SHA256.HashData(Encoding.UTF8.GetBytes(material))).Substring(0, 32);
        }

        public string PathFor(KernelSource kernel, string arch, (int Major, int Minor) nvrtcVersion)
        {
            arch = kernel.TargetFor(arch);
            return Path.Combine(Folder, arch, kernel.Name + "-" + Key(kernel, arch, nvrtcVersion) + ".cubin");
        }

        /// <summary>The cached CUBIN, or null when absent or damaged (a damaged entry is deleted).</summary>
        public byte[]? TryRead(string path)
        {
            byte[] data;
            try
            {
                data = File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return null;
            }
            if (data.Length > Magic.Length + HashBytes && data.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            {
                var payload = data.AsSpan(Magic.Length + HashBytes);
                if (SHA256.HashData(payload).AsSpan().SequenceEqual(data.AsSpan(Magic.Length, HashBytes))) return payload.ToArray();
            }
            TryDelete(path);
            return null;
        }

        public void Write(string path, byte[] cubin)
        {
            string folder = Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(folder);
            string temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                file.Write(Magic);
                file.Write(SHA256.HashData(cubin));
                file.Write(cubin);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }

        /// <summary>The CUBIN for <paramref name="kernel"/> on <paramref name="arch"/>: from the cache, or compiled and stored.</summary>
        public (KernelCompilation Result, bool FromCache) GetOrCompile(KernelSource kernel, string arch)
        {
            var version = NvrtcCompiler.Version;
            arch = kernel.TargetFor(arch);   // the result names the target it was built for (sm_90a for wgmma)
            string path = PathFor(kernel, arch, version);
            var cached = TryRead(path);
            if (cached != null) return (new KernelCompilation(kernel.Name, arch, cached, "", Array.Empty<string>()), true);
            var compiled = NvrtcCompiler.Compile(kernel, arch);
            if (compiled.Succeeded) Write(path, compiled.Cubin!);
            return (compiled, false);
        }

        /// <summary>Removes temporary files older than an hour: what processes killed mid-write left behind.</summary>
        public int RemoveStaleTemporaries()
        {
            if (!Directory.Exists(Folder)) return 0;
            int removed = 0;
            foreach (var file in Directory.EnumerateFiles(Folder, ".*.tmp", SearchOption.AllDirectories))
                if (File.GetLastWriteTimeUtc(file) < DateTime.UtcNow.AddHours(-1) && TryDelete(file)) removed++;
            return removed;
        }

        private static bool TryDelete(string path)
        {
            try
            {
                File.Delete(path);
                return true;
            }
            catch (IOException)
            {
                return false;
            }
        }

        private static string Hex(byte[] bytes) => string.Concat(bytes.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }
}
