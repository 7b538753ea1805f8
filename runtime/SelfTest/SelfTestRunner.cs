using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Kernels;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.SelfTest
{
    /// <summary>One kernel, one case: the worst output's comparison, or why it could not run.</summary>
    public sealed record SelfTestResult(string Kernel, string Case, Comparison? Worst, string? WorstOutput, string? Error)
    {
        public bool Passed => Error is null && Worst is { Passed: true };
    }

    /// <summary>
    /// Runs every emitted kernel of a compiled model on the GPU over fresh random cases and compares each output with the
    /// CPU reference. Outputs are poisoned (0xFF bytes: NaN in fp16, bf16, fp32 and e4m3) before each launch.
    /// </summary>
    public sealed class SelfTestRunner
    {
        private readonly GpuKernels _kernels;

        public SelfTestRunner(GpuKernels kernels) => _kernels = kernels;

        /// <param name="include">Which kernels, by name (null: all).</param>
        public IEnumerable<SelfTestResult> Run(CompiledModel model, KernelCaseFactory cases, Func<string, bool>? include = null)
        {
            using var stream = new CudaStream();
            foreach (var source in _kernels.Emitted(model))
            {
                if (include != null && !include(source.Name)) continue;
                var (kernel, error) = TryLoad(source);
                if (kernel is null)
                {
                    yield return new SelfTestResult(source.Name, "compile", null, null, error);
                    continue;
                }
                using var loaded = kernel;
                var all = cases.For(model.Kernel(source.Name)).ToList();
                foreach (var testCase in all)
                    yield return RunCase(kernel, testCase, model.Spec.Model.DType, stream, viaGraph: false);
                // The decode step runs as a captured CUDA graph: replaying a capture must give the same results.
                if (all.Count > 1)
                    yield return RunCase(kernel, all[1], model.Spec.Model.DType, stream, viaGraph: true);
            }
        }

        private (CudaKernel? Kernel, string? Error) TryLoad(KernelSource source)
        {
            try
            {
                return (_kernels.Load(source), null);
            }
            catch (KernelCompileException e)
            {
                return (null, e.Message);
            }
        }

        /// <summary>Uploads the case, launches once, and compares every output with the reference.</summary>
        public SelfTestResult RunCase(CudaKernel kernel, KernelTestCase testCase, DType activation, CudaStream stream, bool viaGraph)
        {
            var buffers = new Dictionary<string, DeviceBuffer>();
            try
            {
                foreach (var (name, array) in testCase.Arrays)
                {
                    var buffer = HostArrays.Upload(array, stream);
                    if (testCase.WriteOnly.Contains(name)) buffer.Fill(0xFF, stream);
                    buffers[name] = buffer;
                }
                var arguments = new Dictionary<string, object>();
                foreach (var (name, buffer) in buffers) arguments[name] = buffer;
                foreach (var (name, value) in testCase.Scalars) arguments[name] = value;
                if (viaGraph)
                {
                    using var graph = stream.Capture(() => kernel.Launch(stream, arguments, testCase.Grid));
                    graph.Launch(stream);
                }
                else kernel.Launch(stream, arguments, testCase.Grid);
                stream.Synchronize();

                var gpu = testCase.Outputs.SelectMany(o => new[] { o.Parameter, o.ScaleParameter }).Where(n => n != null).Distinct()
                    .ToDictionary(n => n!, n => HostArrays.Download(buffers[n!], testCase.Arrays[n!], stream));
                // Only outputs are copied for the reference; inputs (an embedding table can be half a gigabyte) are shared.
                var outputs = new HashSet<string?>(testCase.Outputs.SelectMany(o => new[] { o.Parameter, o.ScaleParameter }));
                var expected = testCase.Arrays.ToDictionary(p => p.Key, p => outputs.Contains(p.Key) ? (Array)p.Value.Clone() : p.Value);
                testCase.Reference(expected);

                Comparison? worst = null;
                string? worstName = null;
                foreach (var output in testCase.Outputs)
                {
                    var c = OutputComparison.Compare(output, activation, n => gpu[n], n => expected[n]);
                    if (worst is null || !c.Passed || (worst.Value.Passed && c.RelativeError / Math.Max(c.Tolerance, 1e-30) > worst.Value.RelativeError / Math.Max(worst.Value.Tolerance, 1e-30)))
                    {
                        if (worst is { Passed: false } && c.Passed) continue;
                        worst = c;
                        worstName = output.Parameter;
                    }
                }
                return new SelfTestResult(kernel.Source.Name, testCase.Label + (viaGraph ? " (CUDA graph replay)" : ""), worst, worstName, null);
            }
            catch (CudaException e)
            {
                return new SelfTestResult(kernel.Source.Name, testCase.Label, null, null, e.Message);
            }
            finally
            {
                foreach (var b in buffers.Values) b.Dispose();
            }
        }
    }
}
