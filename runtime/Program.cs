namespace GraphCompiler.Runtime
{
    public static class Program
    {
        public static int Main(string[] args) => Cli.GraphcCommand.Run(args);
    }
}
