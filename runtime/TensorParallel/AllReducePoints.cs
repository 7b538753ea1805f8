using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>
    /// Where a tensor-parallel rank's step exchanges: after each launch that multiplies a row-split weight (o_proj,
    /// down_proj), whose output holds this rank's partial sums. When that GEMM adds into the residual stream itself
    /// (<see cref="GemmEpilogue.AddResidual"/>), ranks other than 0 start from a zero residual, so the all-reduce sums
    /// the residual once and the partials of every rank: the residual add rides in the reduction.
    /// </summary>
    public static class AllReducePoints
    {
        public static bool After(PlannedLaunch launch) =>
            launch.Ops.Any(op => ModuleKinds.TryParse(op, out var m) && m.TensorSplit() == TensorSplit.Rows);

        public static bool ZeroOutputFirst(FusedKernel kernel, int rank) => rank != 0 && kernel is GemmKernel { Epilogue: GemmEpilogue.AddResidual };

        /// <summary>Elements of the launch's output this step: its rows (tokens or sequences) × its columns.</summary>
        public static long Elements(KernelPlan plan, PlannedLaunch launch, int tokens, int sequences)
        {
            var buffer = plan.Buffer(launch.Writes[0]);
            return (long)(buffer.Rows == "S" ? sequences : tokens) * buffer.Columns;
        }
    }
}
