using System;
using System.IO;
using System.Linq;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>A test that runs tests/reference/loader_sim.py: skipped, saying why, where python3 or g++ is missing.</summary>
    public sealed class HostToolsFactAttribute : FactAttribute
    {
        public static readonly string Script = FindScript();

        public HostToolsFactAttribute()
        {
            var missing = new[] { "python3", "g++" }.Where(tool => !OnPath(tool)).ToArray();
            if (missing.Length > 0) Skip = $"needs {string.Join(" and ", missing)} on PATH to build and run the loader on the host";
            else if (!File.Exists(Script)) Skip = "tests/reference/loader_sim.py not found above " + AppContext.BaseDirectory;
        }

        private static bool OnPath(string tool) =>
            (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, tool)));

        private static string FindScript()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                string script = Path.Combine(dir.FullName, "tests", "reference", "loader_sim.py");
                if (File.Exists(script)) return script;
            }
            return "";
        }
    }
}
