using System.IO;
using GraphCompiler.Runtime.Cli;

namespace GraphCompiler.Tests.Cli
{
    /// <summary>Runs graphc in process, as the command line would, capturing its exit code, standard output and error.</summary>
    internal static class GraphcInvocation
    {
        public static (int Code, string Out, string Err) Run(params string[] args)
        {
            var output = new StringWriter();
            var error = new StringWriter();
            int code = GraphcCommand.Run(args, output, error);
            return (code, output.ToString(), error.ToString());
        }
    }
}
