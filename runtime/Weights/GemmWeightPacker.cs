using System;
using System.Linq;
using System.Threading.Tasks;
using GraphCompiler.Common;
using GraphCompiler.Kernels;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.Weights
{
    /// <summary>
    /// A GEMM's weights as its kernel reads them (arrays named like the kernel's parameters): fragment-ordered codes,
    /// and per scheme the INT4 group scales and zeros (activation dtype, fragment column order; zeros as −(magic + z),
    /// ready to add to magic + q), the act-order row
    /// permutation, or the FP8 per-channel scales (device column order).
    /// </summary>
    /// <remarks><paramref name="InputScale"/>: a static W8A8 GEMM's activation scale [1] (the largest of its fused modules').</remarks>
    public sealed record GemmDeviceWeights(byte[] Weight, ushort[]? Scales, ushort[]? Zeros, int[]? Perm, float[]? WeightScale, float[]? InputScale = null)
    {
        /// <summary>Bytes on the device: codes, scales, zeros, the row permutation and the FP8 scales.</summary>
        public long Bytes => Weight.LongLength + 2L * (Scales?.LongLength ?? 0) + 2L * (Zeros?.LongLength ?? 0) + 4L * (Perm?.LongLength ?? 0)
            + 4L * (WeightScale?.LongLength ?? 0) + 4L * (InputScale?.LongLength ?? 0);
    }

    /// <summary>
    /// The one-time repack from checkpoint order (W [N, K], INT4 as plain codes [K, N]) into <see cref="WeightFragments"/>
    /// order, and back (the round trip is exact; tests pin it). With <c>interleaveGateUp</c> the columns of a
    /// [gate | up] weight are interleaved for the SwiGLU epilogue. Act-order INT4 rows are sorted by group once here
    /// (stably), and the kernel gathers activations through the returned permutation.
    /// </summary>
    public static class GemmWeightPacker
    {
        public static GemmDeviceWeights PackDense(ushort[] w, int k, int n, bool interleaveGateUp)
        {
            Check(w.Length, (long)n * k, "dense weight [N, K]");
            var bytes = Pack(k, n, 16, interleaveGateUp, (row, column) => w[(long)column * k + row]);
            return new GemmDeviceWeights(bytes, null, null, null, null);
        }

        /// <summary>FP8 codes [N, K] and one fp32 scale per output channel (a per-tensor scale repeated).</summary>
        public static GemmDeviceWeights PackFp8(byte[] codes, float[] channelScales, int k, int n, bool interleaveGateUp)
        {
            Check(codes.Length, (long)n * k, "FP8 weight [N, K]");
            Check(channelScales.Length, n, "FP8 weight_scale per channel [N]");
            var bytes = Pack(k, n, 8, interleaveGateUp, (row, column) => codes[(long)column * k + row]);
            var scales = new float[n];
            for (int d = 0; d < n; d++) scales[d] = channelScales[WeightFragments.SourceColumn(d, n, interleaveGateUp)];
            return new GemmDeviceWeights(bytes, null, null, null, scales);
        }

        /// <summary>
        /// INT4 codes and zero points (0..15) and fp16 scales, plain (<see cref="Int4Unpacked"/>), rows grouped by
        /// <paramref name="gIdx"/> (null: row k in group k / g). Scales become the activation dtype; zeros become
        /// −(magic + z) in it (null when symmetric: the kernel's constant 8, which every zero must then be).
        /// </summary>
        public static GemmDeviceWeights PackInt4(Int4Unpacked plain, int[]? gIdx, int groupSize, bool symmetric, bool actOrder,
            DType activation, int k, int n, bool interleaveGateUp)
        {
            int groups = k / groupSize;
            var perm = RowOrder(gIdx, groupSize, k, actOrder);
            var codes = plain.Codes;
            var bytes = Pack(k, n, 4, interleaveGateUp, (row, column) => (ushort)codes[perm[row], column]);
            var act = ActivationCodec.For(activation);
            var (_, magic) = CudaDialect.Int4Magic(activation);
            int padded = WeightFragments.PaddedN(n);
            var scales = new ushort[(long)groups * padded];
            var zeros = symmetric ? null : new ushort[(long)groups * padded];
            for (int g = 0; g < groups; g++)
                for (int d = 0; d < padded; d++)
                {
                    long at = (long)g * padded + WeightFragments.ScalePosition(d);
                    if (d >= n)
                    {
                        if (zeros != null) zeros[at] = act.Store(-magic);
                        continue;
                    }
                    int column = WeightFragments.SourceColumn(d, n, interleaveGateUp);
                    scales[at] = act.Store(Fp16.ToFloat(plain.Scales[g, column]));
                    int z = plain.Zeros[g, column];
                    if (zeros != null) zeros[at] = act.Store(-(magic + z));
                    else if (z != 8)
                        throw new ArgumentException($"a symmetric INT4 scheme has zero point 8, but group {g} of column {column} has {z}; set symmetric: false in the spec");
                }
            return new GemmDeviceWeights(bytes, scales, zeros, actOrder ? perm : null, null);
        }

        /// <summary>W [N, K] back from fragment order (16-bit elements as stored; 8-bit codes widened).</summary>
        public static ushort[] UnpackElements(byte[] weight, int k, int n, int bits, bool interleaveGateUp)
        {
            var w = new ushort[(long)n * k];
            Parallel.For(0, WeightFragments.PaddedN(n) / WeightFragments.TileN, tile =>
            {
                for (int d = tile * WeightFragments.TileN; d < Math.Min(n, (tile + 1) * WeightFragments.TileN); d++)
                {
                    int column = WeightFragments.SourceColumn(d, n, interleaveGateUp);
                    for (int row = 0; row < k; row++)
                    {
                        var (at, shift) = WeightFragments.Locate(bits, k, n, row, d);
                        w[(long)column * k + row] = bits switch
                        {
                            16 => (ushort)(weight[at] | weight[at + 1] << 8),
                            8 => weight[at],
                            _ => (ushort)(weight[at] >> shift & 0xF),
                        };
                    }
                }
            });
            return w;
        }

        /// <summary>
        /// Device row r holds source row order[r]: the identity, or with act-order the rows stably sorted by group, which
        /// must leave exactly one group per run of <paramref name="groupSize"/> rows.
        /// </summary>
        public static int[] RowOrder(int[]? gIdx, int groupSize, int k, bool actOrder)
        {
            if (gIdx is null) return Enumerable.Range(0, k).ToArray();
            Check(gIdx.Length, k, "g_idx [K]");
            var order = actOrder ? Enumerable.Range(0, k).OrderBy(r => gIdx[r]).ToArray() : Enumerable.Range(0, k).ToArray();
            for (int r = 0; r < k; r++)
                if (gIdx[order[r]] != r / groupSize)
                    throw new ArgumentException(actOrder
                        ? $"g_idx does not put {groupSize} rows in each group (row {order[r]} is in group {gIdx[order[r]]}); the checkpoint's group_size differs from the spec's"
                        : $"g_idx[{r}] = {gIdx[r]}, not {r / groupSize}: the checkpoint was quantized with act-order; set desc_act: true in the spec");
            return order;
        }

        private static byte[] Pack(int k, int n, int bits, bool interleaveGateUp, Func<int, int, ushort> element)
        {
            var bytes = new byte[WeightFragments.Bytes(k, n, bits)];
            Parallel.For(0, WeightFragments.PaddedN(n) / WeightFragments.TileN, tile =>
            {
                // One 64-column strip per task: no two tasks touch the same byte (INT4 nibbles share bytes only within a tile).
                for (int d = tile * WeightFragments.TileN; d < Math.Min(n, (tile + 1) * WeightFragments.TileN); d++)
                {
                    int column = WeightFragments.SourceColumn(d, n, interleaveGateUp);
                    for (int row = 0; row < k; row++)
                    {
                        var (at, shift) = WeightFragments.Locate(bits, k, n, row, d);
                        ushort v = element(row, column);
                        switch (bits)
                        {
                            case 16:
                                bytes[at] = (byte)v;
                                bytes[at + 1] = (byte)(v >> 8);
                                break;
                            case 8:
                                bytes[at] = (byte)v;
                                break;
                            default:
                                bytes[at] |= (byte)((v & 0xF) << shift);
                                break;
                        }
                    }
                }
            });
            return bytes;
        }

        private static void Check(long actual, long expected, string what)
        {
            if (actual != expected) throw new ArgumentException($"{what}: {actual} elements, expected {expected}");
        }
    }
}
