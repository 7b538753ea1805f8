using System;

namespace GraphCompiler.Runtime.Checkpoints
{
    /// <summary>A checkpoint is malformed or unusable: the message names the file, the tensor, the numbers and what to do.</summary>
    public sealed class CheckpointException : Exception
    {
        public CheckpointException(string message) : base(message) { }
    }
}
