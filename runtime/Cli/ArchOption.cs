using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>--arch values: a known architecture (its tiles), sm_90a (sm_90's tiles, Hopper-only instructions allowed), or all.</summary>
    internal static class ArchOption
    {
        public static IReadOnlyList<(GpuArch Tiles, string Target)> Parse(string value)
        {
            if (value == "all") return GpuArch.All.Select(a => (a, a.Name)).ToList();
            if (value == "sm_90a") return new[] { (GpuArch.Sm90, "sm_90a") };
            var arch = GpuArch.Find(value);
            if (arch is null)
                throw new CliException(ExitCodes.Usage, $"--arch '{value}' is not known; use one of {GpuArch.ValidNames}, sm_90a or all");
            return new[] { (arch, arch.Name) };
        }
    }
}
