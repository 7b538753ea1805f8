using System;
using System.Globalization;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.TensorParallel;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>graphc allreduce [--gpus N] [--sizes …]: NCCL's all-reduce over this host's GPUs, checked and timed as the
    /// tensor-parallel decode step uses it (<see cref="AllReduceCheck"/>).</summary>
    internal static class AllReduceCommand
    {
        public static int Run(int? gpus, string sizes, IAnsiConsole console)
        {
            var bytes = sizes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
                ByteSize.TryParse(s, out long b) && b >= 2 && b % 2 == 0 && b <= (1L << 31)
                    ? b : throw new CliException(ExitCodes.Usage, $"--sizes: '{s}' is not an even byte size from 2 B to 2 GiB, such as 16KiB or 64MiB")).ToList();
            if (bytes.Count == 0) throw new CliException(ExitCodes.Usage, "--sizes: give at least one size, such as 16KiB,1MiB,64MiB");
            using (GpuCommands.OpenDevice()) { }
            int count = CudaDevice.Count();
            int n = gpus ?? count;
            if (n < 1 || n > count) throw new CliException(ExitCodes.Usage, $"--gpus {n}: this machine has {count} GPU(s)");
            string version;
            try
            {
                version = NcclCommunicator.Version();
            }
            catch (DllNotFoundException e)
            {
                throw new CliException(ExitCodes.Failure, e.Message);
            }
            console.MarkupLine($"NCCL {version}, {n} GPU(s), a thread a rank, fp16 in-place sum; times are the slowest rank's, {Markup.Escape("busbw = algbw × 2(n − 1)/n")}");
            var results = AllReduceCheck.Run(n, bytes);
            var table = new Table().AddColumn("size").AddColumn("exact").AddColumn(new TableColumn("eager µs").RightAligned()).AddColumn(new TableColumn("graph µs").RightAligned())
                .AddColumn(new TableColumn("algbw GB/s").RightAligned()).AddColumn(new TableColumn("busbw GB/s").RightAligned());
            foreach (var r in results)
                table.AddRow(ByteSize.Format(r.Bytes), r.Mismatches + r.GraphMismatches == 0 ? "yes" : $"[red]no: {r.Mismatches} eager, {r.GraphMismatches} graph values differ[/]",
                    F(r.EagerMicroseconds, "0.0"), F(r.GraphMicroseconds, "0.0"), F(r.AlgorithmBytesPerSecond / 1e9, "0.0"), F(r.BusBytesPerSecond / 1e9, "0.0"));
            console.Write(table);
            return results.All(r => r.Mismatches + r.GraphMismatches == 0) ? ExitCodes.Ok : ExitCodes.Failure;
        }

        private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
    }
}
