namespace GraphCompiler.Runtime.Cli
{
    /// <summary>graphc's exit codes (README.md lists them).</summary>
    public static class ExitCodes
    {
        public const int Ok = 0;
        /// <summary>The spec has errors (printed as file:line:col diagnostics).</summary>
        public const int SpecError = 1;
        /// <summary>The checkpoint is malformed, or does not match the spec it was checked against.</summary>
        public const int CheckpointError = 1;
        /// <summary>The command line is wrong: unknown option, missing argument, bad value.</summary>
        public const int Usage = 2;
        /// <summary>The work itself failed: a kernel did not compile, NVRTC or a GPU is missing.</summary>
        public const int Failure = 3;
    }

    /// <summary>A user-facing error: printed as one message, never as a stack trace.</summary>
    public sealed class CliException : System.Exception
    {
        public CliException(int exitCode, string message) : base(message) => ExitCode = exitCode;
        public int ExitCode { get; }
    }
}
