using System;
using System.Collections.Generic;
using GraphCompiler.Common;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>A tensor a checkpoint holds for one module: the name suffix after the module path, its shape and dtype.</summary>
    public readonly record struct CheckpointTensor(string Suffix, int[] Shape, DType DType);

    /// <summary>
    /// How a weight scheme is stored: in the checkpoint (the names and shapes the loader expects) and on the device
    /// (the bytes the memory plan reserves after the one-time repack). W is [N, K] in Hugging Face orientation.
    /// </summary>
    public abstract class WeightLayout
    {
        public abstract IEnumerable<CheckpointTensor> CheckpointTensors(int k, int n, DType activation);

        /// <summary>Device bytes after the one-time repack into the GEMM's fragment order.</summary>
        public abstract long DeviceBytes(int k, int n);

        /// <summary>
        /// Device bytes of the embedding table [vocab = <paramref name="n"/>, hidden = <paramref name="k"/>], which the gather
        /// reads row by row as the checkpoint stores it (never repacked): fp16/bf16, or e4m3 codes with per-row or one scale.
        /// </summary>
        public static long GatherTableBytes(QuantScheme scheme, int k, int n) => scheme.Method == QuantMethod.Fp8E4M3
            ? (long)k * n + (scheme.WeightScale == ScaleGranularity.PerChannel ? 4L * n : 4L)
            : 2L * k * n;

        public static WeightLayout For(QuantScheme scheme) => scheme.Method switch
        {
            QuantMethod.Fp16 or QuantMethod.Bf16 => DenseLayout.Instance,
            QuantMethod.Fp8E4M3 => new Fp8Layout(scheme),
            QuantMethod.Int4 when scheme.Format == Int4Format.Gptq => new Int4GptqLayout(scheme),
            QuantMethod.Int4 => new Int4AwqLayout(scheme),
            _ => throw new ArgumentOutOfRangeException(nameof(scheme)),
        };
    }

    /// <summary>fp16/bf16: `weight` [N, K]; on the device in GemmEmitter's fragment order, N padded to whole 64-column tiles.</summary>
    public sealed class DenseLayout : WeightLayout
    {
        public static readonly DenseLayout Instance = new DenseLayout();

        public override IEnumerable<CheckpointTensor> CheckpointTensors(int k, int n, DType activation)
        {
            yield return new CheckpointTensor("weight", new[] { n, k }, activation);
        }

        public override long DeviceBytes(int k, int n) => WeightFragments.Bytes(k, n, 16);
    }

    /// <summary>
    /// FP8 e4m3 (compressed-tensors / llm-compressor layout): `weight` [N, K] e4m3, `weight_scale` fp32 per tensor [] or
    /// per output channel [N, 1], and for static W8A8 an `input_scale` fp32 [].
    /// </summary>
    public sealed class Fp8Layout : WeightLayout
    {
        private readonly QuantScheme _scheme;

        public Fp8Layout(QuantScheme scheme) => _scheme = scheme;

        public override IEnumerable<CheckpointTensor> CheckpointTensors(int k, int n, DType activation)
        {
            yield return new CheckpointTensor("weight", new[] { n, k }, DType.F8E4M3);
            yield return new CheckpointTensor("weight_scale",
                _scheme.WeightScale == ScaleGranularity.PerChannel ? new[] { n, 1 } : new int[0], DType.F32);
            if (_scheme.ActivationScale == ActivationScaling.Static)
                yield return new CheckpointTensor("input_scale", new int[0], DType.F32);
        }

        /// <summary>Codes in fragment order, and one fp32 scale per output channel (a per-tensor scale is repeated at load).</summary>
        public override long DeviceBytes(int k, int n) =>
            WeightFragments.Bytes(k, n, 8) + 4L * n + (_scheme.ActivationScale == ActivationScaling.Static ? 4L : 0L);
    }

    /// <summary>Shared by both INT4 formats: on the device, packed nibbles, scales per group in the activation dtype, zeros only when asymmetric.</summary>
    public abstract class Int4Layout : WeightLayout
    {
        protected Int4Layout(QuantScheme scheme) => Scheme = scheme;

        protected QuantScheme Scheme { get; }

        protected int Groups(int k) => k / Scheme.GroupSizeFor(k);

        /// <summary>
        /// Packed weights K·N/2 in fragment order, scales (K/g)·N·2 and, when asymmetric, zeros (K/g)·N·2 in the activation
        /// dtype (a symmetric zero is the constant 8), N padded to whole 64-column tiles; for act-order the K-row permutation
        /// as int32 (rows are sorted by group once at load, so g_idx itself is not kept).
        /// </summary>
        public override long DeviceBytes(int k, int n) =>
            WeightFragments.Bytes(k, n, 4) + 2L * Groups(k) * WeightFragments.PaddedN(n) * (Scheme.Symmetric ? 1 : 2) + (Scheme.DescAct ? 4L * k : 0L);
    }

    /// <summary>
    /// GPTQ (AutoGPTQ / transformers): `qweight` int32 [K/8, N] (8 input rows per word, row 8i+j in bits 4j..4j+3),
    /// `qzeros` int32 [K/g, N/8] (8 columns per word, stored as (zero − 1) mod 16: the v1 convention, read back as
    /// (nibble + 1) mod 16 as AutoGPTQ does), `scales` fp16 [K/g, N],
    /// `g_idx` int32 [K] (the group of each input row; a permutation of groups with act-order).
    /// </summary>
    public sealed class Int4GptqLayout : Int4Layout
    {
        public Int4GptqLayout(QuantScheme scheme) : base(scheme) { }

        public override IEnumerable<CheckpointTensor> CheckpointTensors(int k, int n, DType activation)
        {
            yield return new CheckpointTensor("qweight", new[] { k / 8, n }, DType.I32);
            yield return new CheckpointTensor("qzeros", new[] { Groups(k), n / 8 }, DType.I32);
            yield return new CheckpointTensor("scales", new[] { Groups(k), n }, DType.F16);
            yield return new CheckpointTensor("g_idx", new[] { k }, DType.I32);
        }
    }

    /// <summary>
    /// AWQ (AutoAWQ GEMM version): `qweight` int32 [K, N/8] and `qzeros` int32 [K/g, N/8], 8 columns per word in the
    /// interleaved order 0,2,4,6,1,3,5,7 (nibble j holds column AwqOrder[j]); `scales` fp16 [K/g, N]; w = (q − z)·s.
    /// </summary>
    public sealed class Int4AwqLayout : Int4Layout
    {
        /// <summary>Nibble j of an AWQ word holds column AwqOrder[j] of its group of 8.</summary>
        public static readonly int[] AwqOrder = { 0, 2, 4, 6, 1, 3, 5, 7 };

        public Int4AwqLayout(QuantScheme scheme) : base(scheme) { }

        public override IEnumerable<CheckpointTensor> CheckpointTensors(int k, int n, DType activation)
        {
            yield return new CheckpointTensor("qweight", new[] { k, n / 8 }, DType.I32);
            yield return new CheckpointTensor("qzeros", new[] { Groups(k), n / 8 }, DType.I32);
            yield return new CheckpointTensor("scales", new[] { Groups(k), n }, DType.F16);
        }
    }
}
