using System;
using GraphCompiler.Planning;

namespace GraphCompiler.Runtime.Reference
{
    /// <summary>INT4 codes, zero points and fp16 scale bits in plain form: Codes [K, N] (0..15), Zeros and Scales [K/g, N].
    /// Zeros are the real zero points (w = (q − z)·s), whatever the format stores.</summary>
    public sealed record Int4Unpacked(int[,] Codes, int[,] Zeros, ushort[,] Scales);

    /// <summary>GPTQ checkpoint tensors, flat row-major: qweight [K/8, N], qzeros [K/g, N/8], scales [K/g, N], g_idx [K].</summary>
    public sealed record GptqTensors(uint[] QWeight, uint[] QZeros, ushort[] Scales, int[] GIdx);

    /// <summary>AWQ checkpoint tensors, flat row-major: qweight [K, N/8], qzeros [K/g, N/8], scales [K/g, N].</summary>
    public sealed record AwqTensors(uint[] QWeight, uint[] QZeros, ushort[] Scales);

    /// <summary>
    /// Reference packers and unpackers for the INT4 checkpoint formats (see <see cref="Int4GptqLayout"/> and
    /// <see cref="Int4AwqLayout"/>), written from the formats' descriptions rather than from the kernels, so that a test
    /// packing with these and dequantizing with the kernel (or <see cref="ElementwiseReference"/>) checks the kernel's
    /// reading of the format. Also a round-to-nearest group quantizer to make test weights.
    /// </summary>
    public static class QuantizedPacking
    {
        /// <summary>
        /// GPTQ (AutoGPTQ, v1 zeros): qweight[k/8, n] holds input row k in bits 4·(k%8); qzeros[g, n/8] holds z − 1 of
        /// column n in bits 4·(n%8); scales [g, N] as given. <paramref name="gIdx"/> (the group of each input row; any
        /// assignment, e.g. act-order's permutation) defaults to k / groupSize and is returned as the g_idx tensor.
        /// Zeros are 0..15, stored as (z − 1) mod 16, so a zero point of 0 is the nibble 15 (AutoGPTQ's readers add one and
        /// mask to 4 bits).
        /// </summary>
        public static GptqTensors PackGptq(int[,] q, int[,] zeros, ushort[,] scales, int groupSize, int[]? gIdx = null)
        {
            int k = q.GetLength(0), n = q.GetLength(1), groups = CheckShapes(q, zeros, scales, groupSize, k, n);
            if (k % 8 != 0) throw new ArgumentException($"GPTQ packs 8 input rows per word: K = {k} is not a multiple of 8", nameof(q));
            var g = gIdx ?? DefaultGroupIndex(k, groupSize);
            if (g.Length != k) throw new ArgumentException($"g_idx has {g.Length} entries, K is {k}", nameof(gIdx));
            foreach (int group in g)
                if (group < 0 || group >= groups) throw new ArgumentOutOfRangeException(nameof(gIdx), group, $"a group index is outside 0..{groups - 1}");

            var qweight = new uint[k / 8 * n];
            for (int row = 0; row < k; row++)
                for (int col = 0; col < n; col++)
                    qweight[row / 8 * n + col] |= (uint)Code(q[row, col]) << (4 * (row % 8));
            var qzeros = new uint[groups * (n / 8)];
            for (int group = 0; group < groups; group++)
                for (int col = 0; col < n; col++)
                {
                    int z = zeros[group, col];
                    if (z < 0 || z > 15) throw new ArgumentOutOfRangeException(nameof(zeros), z, "INT4 zero points are 0..15");
                    qzeros[group * (n / 8) + col / 8] |= (uint)((z - 1) & 0xF) << (4 * (col % 8));
                }
            return new GptqTensors(qweight, qzeros, Flatten(scales), (int[])g.Clone());
        }

        /// <summary>The inverse of <see cref="PackGptq"/>: zeros come back as (stored nibble + 1) mod 16. g_idx is not needed.</summary>
        public static Int4Unpacked UnpackGptq(uint[] qweight, uint[] qzeros, ushort[] scales, int k, int n, int groups)
        {
            var q = new int[k, n];
            for (int row = 0; row < k; row++)
                for (int col = 0; col < n; col++)
                    q[row, col] = Nibble(qweight[row / 8 * n + col], row % 8);
            var zeros = new int[groups, n];
            for (int group = 0; group < groups; group++)
                for (int col = 0; col < n; col++)
                    zeros[group, col] = (Nibble(qzeros[group * (n / 8) + col / 8], col % 8) + 1) & 0xF;
            return new Int4Unpacked(q, zeros, Unflatten(scales, groups, n));
        }

        /// <summary>
        /// AWQ (AutoAWQ GEMM): qweight[k, n/8] and qzeros[g, n/8] pack 8 columns per word, nibble j holding column
        /// 8·(n/8) + AwqOrder[j] (AwqOrder = 0,2,4,6,1,3,5,7); zeros stored as is (0..15); rows grouped as k / groupSize.
        /// </summary>
        public static AwqTensors PackAwq(int[,] q, int[,] zeros, ushort[,] scales, int groupSize)
        {
            int k = q.GetLength(0), n = q.GetLength(1), groups = CheckShapes(q, zeros, scales, groupSize, k, n);
            var qweight = new uint[k * (n / 8)];
            for (int row = 0; row < k; row++)
                for (int col = 0; col < n; col++)
                    qweight[row * (n / 8) + col / 8] |= (uint)Code(q[row, col]) << (4 * AwqNibbleOf(col % 8));
            var qzeros = new uint[groups * (n / 8)];
            for (int group = 0; group < groups; group++)
                for (int col = 0; col < n; col++)
                {
                    int z = zeros[group, col];
                    if (z < 0 || z > 15) throw new ArgumentOutOfRangeException(nameof(zeros), z, "AWQ zeros are nibbles: 0..15");
                    qzeros[group * (n / 8) + col / 8] |= (uint)z << (4 * AwqNibbleOf(col % 8));
                }
            return new AwqTensors(qweight, qzeros, Flatten(scales));
        }

        /// <summary>The inverse of <see cref="PackAwq"/>.</summary>
        public static Int4Unpacked UnpackAwq(uint[] qweight, uint[] qzeros, ushort[] scales, int k, int n, int groups)
        {
            var q = new int[k, n];
            for (int row = 0; row < k; row++)
                for (int col = 0; col < n; col++)
                    q[row, col] = Nibble(qweight[row * (n / 8) + col / 8], AwqNibbleOf(col % 8));
            var zeros = new int[groups, n];
            for (int group = 0; group < groups; group++)
                for (int col = 0; col < n; col++)
                    zeros[group, col] = Nibble(qzeros[group * (n / 8) + col / 8], AwqNibbleOf(col % 8));
            return new Int4Unpacked(q, zeros, Unflatten(scales, groups, n));
        }

        /// <summary>
        /// Round-to-nearest INT4 quantization of w [N, K] (Hugging Face orientation, row-major) in groups of
        /// <paramref name="groupSize"/> input features per output channel (-1: one group of K), as AutoAWQ's
        /// pseudo_quantize_tensor does it:
        /// symmetric: s = max|w| / 7, z = 8, q = clamp(round(w/s) + 8, 0, 15);
        /// asymmetric: s = (max − min) / 15, z = clamp(round(−min/s), 0, 15), q = clamp(round(w/s) + z, 0, 15)
        /// (a group that does not straddle 0 loses the far end of its range; GPTQ's own quantizer widens the range to
        /// include 0 instead). round is to nearest even, as torch.round. s is rounded to fp16 first and q and z are
        /// computed with that stored scale, so (q − z)·s is the best the stored tensors can give. A group whose s would be
        /// 0 (all zeros, or a range under fp16's smallest subnormal) gets s = 1; a constant asymmetric group gets
        /// s = |w|/15 so the constant is kept. Returns Codes [K, N] and Scales, Zeros [K/g, N], ready for the packers.
        /// </summary>
        public static Int4Unpacked QuantizeInt4Rtn(float[] w, int k, int n, int groupSize, bool symmetric)
        {
            int g = groupSize == -1 ? k : groupSize;
            if (g <= 0 || k % g != 0) throw new ArgumentException($"group size {groupSize} does not divide K = {k}", nameof(groupSize));
            if (w.Length != (long)k * n) throw new ArgumentException($"w has {w.Length} elements, N·K is {(long)n * k}", nameof(w));
            int groups = k / g;
            var codes = new int[k, n];
            var zeros = new int[groups, n];
            var scales = new ushort[groups, n];
            for (int col = 0; col < n; col++)
                for (int group = 0; group < groups; group++)
                {
                    int first = col * k + group * g;
                    float min = float.PositiveInfinity, max = float.NegativeInfinity, absMax = 0.0f;
                    for (int i = first; i < first + g; i++)
                    {
                        if (!float.IsFinite(w[i])) throw new ArgumentException($"w[{i / k}, {i % k}] is {w[i]}", nameof(w));
                        min = Math.Min(min, w[i]);
                        max = Math.Max(max, w[i]);
                        absMax = Math.Max(absMax, Math.Abs(w[i]));
                    }
                    float raw = symmetric ? absMax / 7.0f : max > min ? (max - min) / 15.0f : absMax / 15.0f;
                    ushort bits = Fp16.FromFloat(raw);
                    float s = Fp16.ToFloat(bits);
                    if (s == 0.0f) { bits = Fp16.FromFloat(1.0f); s = 1.0f; }
                    if (float.IsInfinity(s)) throw new ArgumentException($"a group of column {col} needs a scale beyond fp16's range", nameof(w));
                    int z = symmetric ? 8 : ClampToNibble(RoundEven(-min / s));
                    scales[group, col] = bits;
                    zeros[group, col] = z;
                    for (int i = 0; i < g; i++)
                        codes[group * g + i, col] = ClampToNibble(RoundEven(w[first + i] / s) + z);
                }
            return new Int4Unpacked(codes, zeros, scales);
        }

        /// <summary>g_idx without act-order: row k is in group k / groupSize.</summary>
        public static int[] DefaultGroupIndex(int k, int groupSize)
        {
            var g = new int[k];
            for (int row = 0; row < k; row++) g[row] = row / groupSize;
            return g;
        }

        private static float RoundEven(float x) => MathF.Round(x, MidpointRounding.ToEven);

        /// <summary>Clamped while still a float: w/s can exceed int's range.</summary>
        private static int ClampToNibble(float x) => (int)Math.Clamp(x, 0.0f, 15.0f);

        /// <summary>Nibble j of an AWQ word holds column AwqOrder[j]: this is the nibble of column c.</summary>
        private static int AwqNibbleOf(int c) => Array.IndexOf(Int4AwqLayout.AwqOrder, c);

        private static int Nibble(uint word, int j) => (int)((word >> (4 * j)) & 0xFu);

        private static int Code(int q) =>
            q >= 0 && q <= 15 ? q : throw new ArgumentOutOfRangeException(nameof(q), q, "INT4 codes are 0..15");

        private static int CheckShapes(int[,] q, int[,] zeros, ushort[,] scales, int groupSize, int k, int n)
        {
            if (n % 8 != 0) throw new ArgumentException($"8 columns per word: N = {n} is not a multiple of 8", nameof(q));
            if (groupSize <= 0 || k % groupSize != 0) throw new ArgumentException($"group size {groupSize} does not divide K = {k}", nameof(groupSize));
            int groups = k / groupSize;
            if (zeros.GetLength(0) != groups || zeros.GetLength(1) != n)
                throw new ArgumentException($"zeros are [{zeros.GetLength(0)}, {zeros.GetLength(1)}], expected [{groups}, {n}]", nameof(zeros));
            if (scales.GetLength(0) != groups || scales.GetLength(1) != n)
                throw new ArgumentException($"scales are [{scales.GetLength(0)}, {scales.GetLength(1)}], expected [{groups}, {n}]", nameof(scales));
            return groups;
        }

        private static ushort[] Flatten(ushort[,] a)
        {
            var flat = new ushort[a.Length];
            int cols = a.GetLength(1);
            for (int r = 0; r < a.GetLength(0); r++)
                for (int c = 0; c < cols; c++) flat[r * cols + c] = a[r, c];
            return flat;
        }

        private static ushort[,] Unflatten(ushort[] flat, int rows, int cols)
        {
            var a = new ushort[rows, cols];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) a[r, c] = flat[r * cols + c];
            return a;
        }
    }
}
