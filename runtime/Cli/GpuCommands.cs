using System;
using System.IO;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.Tuning;
using GraphCompiler.Spec;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>What the GPU commands share: opening the device with a plain message when there is none, and the target arch.</summary>
    internal static class GpuCommands
    {
        public static CudaDevice OpenDevice()
        {
            try
            {
                return CudaDevice.Open();
            }
            catch (GpuUnavailableException e)
            {
                throw new CliException(ExitCodes.Failure, "this command needs a GPU: " + e.Message);
            }
        }

        /// <summary>The tuning database at its default place; a damaged file is an error that says where it is.</summary>
        public static TuningDatabase OpenTuningDatabase(out string path)
        {
            string at = path = TuningDatabase.DefaultPath();
            return Tuned(() => TuningDatabase.Load(at));
        }

        /// <summary>--tiles auto|spec on an open GPU (<see cref="TunedTiles.ForGpu"/>), its lines on the console.</summary>
        public static CompiledModel WithTiles(CompiledModel model, SpecText spec, CudaDeviceInfo device, string tiles, IAnsiConsole console)
        {
            CheckTiles(tiles);
            return Tuned(() => TunedTiles.ForGpu(model, spec.Path, spec.Text, device, tiles == TunedOrSpecTiles, line => console.MarkupLine("[grey]" + Markup.Escape(line) + "[/]")));
        }

        /// <summary>A damaged tuning database is a usage error naming the file and what to do.</summary>
        public static T Tuned<T>(Func<T> action)
        {
            try
            {
                return action();
            }
            catch (InvalidDataException e)
            {
                throw new CliException(ExitCodes.Usage, e.Message);
            }
        }

        public const string TunedOrSpecTiles = "auto", SpecTiles = "spec";

        public static void CheckTiles(string tiles)
        {
            if (tiles is not (TunedOrSpecTiles or SpecTiles))
                throw new CliException(ExitCodes.Usage, $"--tiles '{tiles}' is not one of auto (tuned tiles where the tuning database has them for this GPU), spec");
        }
    }
}
