using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>A test that runs an emitted kernel's code on the host through a tests/reference script (python3 and g++):
    /// skipped, saying why, where either is missing.</summary>
    public sealed class HostToolsFactAttribute : FactAttribute
    {
        private static readonly string ReferenceFolder = FindReferenceFolder();

        public HostToolsFactAttribute()
        {
            var missing = new[] { "python3", "g++" }.Where(tool => !OnPath(tool)).ToArray();
            if (missing.Length > 0) Skip = $"needs {string.Join(" and ", missing)} on PATH to build and run the kernel's code on the host";
            else if (ReferenceFolder.Length == 0) Skip = "tests/reference not found above " + AppContext.BaseDirectory;
        }

        /// <summary>Runs tests/reference/<paramref name="script"/> on the kernels (each written to a .cu file of its name in
        /// a temporary folder) and asserts that it succeeded with one "… 0 failures" line a kernel, or
        /// <paramref name="checks"/> in all where some kernels get several; returns what it printed.</summary>
        public static string Run(string script, IReadOnlyList<(string Name, string Source)> kernels, int? checks = null)
        {
            var folder = Directory.CreateTempSubdirectory("graphc-host-");
            try
            {
                var run = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
                run.ArgumentList.Add(Path.Combine(ReferenceFolder, script));
                foreach (var (name, source) in kernels)
                {
                    string file = Path.Combine(folder.FullName, name + ".cu");
                    File.WriteAllText(file, source);
                    run.ArgumentList.Add(file);
                }
                using var process = Process.Start(run)!;
                var errors = process.StandardError.ReadToEndAsync();   // both at once: a full stderr pipe would stall the script
                string output = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                output += errors.Result;
                Assert.True(process.ExitCode == 0, output);
                Assert.Equal(checks ?? kernels.Count, output.Split('\n').Count(line => line.EndsWith(" 0 failures")));
                return output;
            }
            finally
            {
                folder.Delete(recursive: true);
            }
        }

        private static bool OnPath(string tool) =>
            (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, tool)));

        private static string FindReferenceFolder()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                string folder = Path.Combine(dir.FullName, "tests", "reference");
                if (File.Exists(Path.Combine(folder, "loader_sim.py"))) return folder;
            }
            return "";
        }
    }
}
