using System;

namespace GraphCompiler.Kernels.Gemm
{
    /// <summary>
    /// The device order of a GEMM's weights (Marlin-style): W [N, K] cut into 16 (k) × 64 (n) tiles, stored n-tile major
    /// (all K tiles of columns 0–63, then of 64–127, …) so a CTA's K steps read contiguous bytes. Inside a tile, lane l of
    /// the warp owns one 16-byte vector per 512 bytes, holding exactly its mma.sync m16n8k16 B fragments for the tile's
    /// eight 8-column subtiles: column s·8 + l/4, rows 2·(l%4) + {0, 1} (register 0) and + 8 (register 1). So one ldmatrix-free
    /// 16-byte shared-memory load per lane yields 8 (INT4), 4 (FP8) or 2 (fp16/bf16) subtiles' fragments, ready to
    /// dequantize in registers. Register q = 2·s + r of a lane is:
    /// <list type="bullet">
    /// <item>16-bit: the 32-bit word q of the lane's 64 bytes (vector q/4, word q%4), rows e = 0, 1 in the low and high half;</item>
    /// <item>8-bit: the 16-bit pair q of the lane's 32 bytes (vector q/8, bytes 2·(q%8) + e);</item>
    /// <item>4-bit: word s/2 of the lane's 16 bytes, slot p = 2·(s%2) + r, row e in nibble p + 4·e, so one lop3 on the
    /// word shifted by 4·p gives both rows as fp16/bf16 halves.</item>
    /// </list>
    /// Group scales and zeros are [K/g, N padded to 64] with the columns of each 64-wide tile reordered so that a lane's
    /// eight columns are one 16-byte vector (<see cref="ScalePosition"/>).
    /// A SwiGLU GEMM interleaves gate and up: device tile T holds gate columns 32T…32T+31 then the same up columns, so
    /// a thread's accumulators for gate and up of one output sit side by side.
    /// </summary>
    public static class WeightFragments
    {
        public const int TileK = 16;
        public const int TileN = 64;
        public const int Lanes = 32;
        public const int VectorBytes = 16;

        public static int TileBytes(int bits) => TileK * TileN * bits / 8;

        /// <summary>N rounded up to whole 64-column tiles: the last tile's extra columns are zero weights and unit scales.</summary>
        public static int PaddedN(int n) => (n + TileN - 1) / TileN * TileN;

        /// <summary>Device bytes of a K × N weight at <paramref name="bits"/> per element.</summary>
        public static long Bytes(int k, int n, int bits) => (long)k * PaddedN(n) * bits / 8;

        /// <summary>Where element (n, k) of the device-ordered W lives: the byte, and the bit offset in it (4-bit only).</summary>
        public static (long Byte, int Shift) Locate(int bits, int k, int n, int row, int column)
        {
            if (k % TileK != 0 || column >= PaddedN(n))
                throw new ArgumentException($"K = {k} must be a multiple of {TileK}, and column {column} lies outside N = {n}");
            int c = column % TileN, r = row % TileK;
            int sub = c / 8, lane = (c % 8) * 4 + (r % 8) / 2, reg = r / 8, e = r % 2;
            long tile = ((long)(column / TileN) * (k / TileK) + row / TileK) * TileBytes(bits);
            int q = 2 * sub + reg;
            switch (bits)
            {
                case 16:
                    return (tile + q / 4 * Lanes * VectorBytes + lane * VectorBytes + q % 4 * 4 + 2 * e, 0);
                case 8:
                    return (tile + q / 8 * Lanes * VectorBytes + lane * VectorBytes + q % 8 * 2 + e, 0);
                case 4:
                    {
                        int nibble = 2 * (sub % 2) + reg + 4 * e;
                        return (tile + lane * VectorBytes + sub / 2 * 4 + nibble / 2, nibble % 2 * 4);
                    }
                default:
                    throw new ArgumentOutOfRangeException(nameof(bits), bits, "4, 8 or 16 bits per weight");
            }
        }

        /// <summary>
        /// The device position, within its row of N, of group scale (and zero) column <paramref name="column"/>: a lane's
        /// B-fragment columns l/4 + 8·s (s = 0…7) are one 16-byte vector, position (c%8)·8 + c/8 of the tile.
        /// </summary>
        public static int ScalePosition(int column)
        {
            int c = column % TileN;
            return column - c + c % 8 * 8 + c / 8;
        }

        /// <summary>
        /// The original output column that device column <paramref name="deviceColumn"/> holds: itself, or for a SwiGLU
        /// GEMM over [gate | up] (n = 2·intermediate) the interleaved order of 32 gate then 32 up columns per tile.
        /// </summary>
        public static int SourceColumn(int deviceColumn, int n, bool interleaveGateUp)
        {
            if (!interleaveGateUp) return deviceColumn;
            int tile = deviceColumn / TileN, c = deviceColumn % TileN, half = TileN / 2;
            return c < half ? tile * half + c : n / 2 + tile * half + c - half;
        }
    }
}
