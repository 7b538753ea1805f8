using System;
using System.Collections.Generic;
using GraphCompiler.Common;

namespace GraphCompiler.Runtime.SelfTest
{
    /// <summary>How an output is compared with the reference.</summary>
    public enum OutputKind
    {
        /// <summary>Activations (fp16/bf16 bits): relative L2 error against the dtype's tolerance.</summary>
        Activation,
        /// <summary>FP8 e4m3 codes with a per-row fp32 scale (the parameter named in <see cref="KernelOutput.ScaleParameter"/>): compared dequantized.</summary>
        Fp8PerRow,
        /// <summary>fp32 values.</summary>
        Float,
        /// <summary>fp32 sums of long dot products (GEMM logits): the summation order differs from the reference's.</summary>
        FloatSum,
        /// <summary>Integers that must match exactly (any integer element type: FP8 codes and fp16 bits compare as such).</summary>
        Exact,
        /// <summary>KV-cache elements in <see cref="KernelOutput.Element"/> (fp16/bf16 bits or FP8 codes, no scale): relative L2
        /// error, since a kernel that applies RoPE may write K one ulp (code) from the reference.</summary>
        KvCache,
    }

    /// <summary>An output and how to compare it; with <paramref name="CheckedRows"/> only those rows (of RowWidth elements) are.
    /// <paramref name="Element"/>: the element dtype where the kind needs it (<see cref="OutputKind.KvCache"/>).</summary>
    public sealed record KernelOutput(string Parameter, OutputKind Kind, string? ScaleParameter = null, int RowWidth = 0, int[]? CheckedRows = null,
        DType? Element = null);

    /// <summary>
    /// One run of a kernel on fresh random inputs: host arrays by parameter name (inputs, and outputs the kernel also
    /// reads), outputs that are only written (poisoned on the device before the launch, so unwritten elements show as
    /// NaN), scalars, grid symbols, and the CPU reference that computes the expected outputs in place on host copies.
    /// </summary>
    public sealed class KernelTestCase
    {
        public KernelTestCase(string label) => Label = label;

        public string Label { get; }
        public Dictionary<string, Array> Arrays { get; } = new Dictionary<string, Array>();
        public HashSet<string> WriteOnly { get; } = new HashSet<string>();
        public Dictionary<string, int> Scalars { get; } = new Dictionary<string, int>();
        public Dictionary<string, long> Grid { get; } = new Dictionary<string, long>();
        public List<KernelOutput> Outputs { get; } = new List<KernelOutput>();
        public Action<IReadOnlyDictionary<string, Array>> Reference { get; set; } = _ => { };

        /// <summary>Set where a kernel touches only part of an array (a gather reads a few rows of a table).</summary>
        public long? BytesTouched { get; set; }

        /// <summary>Floating-point operations of the case, where the kernel is compute-bound: a GEMM's 2·M·N·K, prefill attention's causal Q·Kᵀ and P·V.</summary>
        public double? Flops { get; set; }

        /// <summary>Bytes the kernel must move at least: every array read once and every output written once.</summary>
        public long MinimumBytes
        {
            get
            {
                if (BytesTouched is long touched) return touched;
                long bytes = 0;
                foreach (var (name, array) in Arrays)
                {
                    long size = (long)array.Length * Buffer.ByteLength(array) / Math.Max(1, array.Length);
                    bool output = Outputs.Exists(o => o.Parameter == name || o.ScaleParameter == name);
                    bool read = !WriteOnly.Contains(name);
                    bytes += size * ((read ? 1 : 0) + (output ? 1 : 0));
                }
                return bytes;
            }
        }

        public KernelTestCase Input(string name, Array data)
        {
            Arrays[name] = data;
            return this;
        }

        public KernelTestCase Output(string name, Array shape, OutputKind kind, string? scale = null, int rowWidth = 0)
        {
            Arrays[name] = shape;
            WriteOnly.Add(name);
            Outputs.Add(new KernelOutput(name, kind, scale, rowWidth));
            return this;
        }

        /// <summary>An output of which only <paramref name="checkedRows"/> are computed by the reference.</summary>
        public KernelTestCase Output(string name, Array shape, OutputKind kind, int[] checkedRows, int rowWidth)
        {
            Arrays[name] = shape;
            WriteOnly.Add(name);
            Outputs.Add(new KernelOutput(name, kind, null, rowWidth, checkedRows));
            return this;
        }

        /// <summary>An array the kernel reads and writes, compared on <paramref name="checkedRows"/> only (an array may have several such outputs).</summary>
        public KernelTestCase InOut(string name, Array data, OutputKind kind, int[] checkedRows, int rowWidth, DType? element = null)
        {
            Arrays[name] = data;
            Outputs.Add(new KernelOutput(name, kind, null, rowWidth, checkedRows, element));
            return this;
        }

        /// <summary>An array the kernel reads and writes (RMSNorm's residual, RoPE's qkv).</summary>
        public KernelTestCase InOut(string name, Array data, OutputKind kind)
        {
            Arrays[name] = data;
            Outputs.Add(new KernelOutput(name, kind));
            return this;
        }
    }
}
