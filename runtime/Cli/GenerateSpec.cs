using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Models;
using GraphCompiler.Runtime.Checkpoints;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>Which built-in spec a checkpoint is: the first whose manifest it matches exactly.</summary>
    internal static class GenerateSpec
    {
        public static string Find(string modelPath)
        {
            Checkpoint checkpoint;
            try
            {
                checkpoint = Checkpoint.Open(modelPath);
            }
            catch (CheckpointException e)
            {
                throw new CliException(ExitCodes.SpecError, e.Message);
            }
            using (checkpoint)
            {
                foreach (var entry in SpecCatalog.All)
                {
                    var (parse, model) = ModelCompiler.Compile(entry.File, entry.Yaml);
                    if (model != null && ManifestCheck.Run(checkpoint, model, parse.SourceMap).Matches) return entry.Name;
                }
            }
            throw new CliException(ExitCodes.Usage,
                $"{modelPath} matches none of the built-in specs ({string.Join(", ", SpecCatalog.All.Select(e => e.Name))}); give one with --spec (graphc inspect {modelPath} --spec SPEC shows the differences)");
        }
    }
}
