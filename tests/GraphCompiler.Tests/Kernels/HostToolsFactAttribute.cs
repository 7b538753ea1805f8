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

        /// <summary>Runs tests/reference/<paramref name="script"/> on the .cu files: its exit code and everything it printed.</summary>
        public static (int ExitCode, string Output) Run(string script, IEnumerable<string> kernels)
        {
            var run = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            run.ArgumentList.Add(Path.Combine(ReferenceFolder, script));
            foreach (var k in kernels) run.ArgumentList.Add(k);
            using var process = Process.Start(run)!;
            var errors = process.StandardError.ReadToEndAsync();   // both at once: a full stderr pipe would stall the script
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output + errors.Result);
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
