using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Kernels.Gemm;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>The device order of GEMM weights: a bijection onto the bytes, and each lane's bytes are its mma.sync B fragments.</summary>
    public class WeightFragmentsTests
    {
        [Theory]
        [InlineData(4)]
        [InlineData(8)]
        [InlineData(16)]
        public void Every_element_of_a_weight_has_its_own_bits(int bits)
        {
            const int k = 32, n = 128;
            var seen = new HashSet<(long, int)>();
            for (int column = 0; column < n; column++)
                for (int row = 0; row < k; row++)
                {
                    var (at, shift) = WeightFragments.Locate(bits, k, n, row, column);
                    Assert.InRange(at, 0, WeightFragments.Bytes(k, n, bits) - 1);
                    Assert.True(seen.Add((at, shift)), $"({row}, {column}) shares bits with another element");
                }
            Assert.Equal(WeightFragments.Bytes(k, n, bits) * 8 / bits, seen.Count);
        }

        /// <summary>
        /// PTX ISA, mma.m16n8k16 with .f16/.bf16: lane l holds B[k][n] for n = l/4 and k = 2·(l%4) + {0, 1} (register b0)
        /// and the same + 8 (b1). Register q = 2·subtile + r of a lane must hold exactly those of column subtile·8 + l/4.
        /// </summary>
        [Fact]
        public void A_lane_reads_its_mma_b_fragments_as_consecutive_registers()
        {
            const int k = 16, n = 64;
            for (int lane = 0; lane < 32; lane++)
                for (int subtile = 0; subtile < 8; subtile++)
                    for (int r = 0; r < 2; r++)
                        for (int e = 0; e < 2; e++)
                        {
                            int row = 2 * (lane % 4) + 8 * r + e, column = subtile * 8 + lane / 4, q = 2 * subtile + r;
                            // fp16: word q of the lane's 64 bytes (four 16-byte vectors 512 bytes apart), element e in half e.
                            Assert.Equal(q / 4 * 512 + lane * 16 + q % 4 * 4 + 2 * e, WeightFragments.Locate(16, k, n, row, column).Byte);
                            // FP8: 16-bit pair q of the lane's 32 bytes.
                            Assert.Equal(q / 8 * 512 + lane * 16 + q % 8 * 2 + e, WeightFragments.Locate(8, k, n, row, column).Byte);
                            // INT4: word subtile/2, nibbles slot and slot + 4 with slot = 2·(subtile%2) + r (one lop3 per register).
                            int nibble = 2 * (subtile % 2) + r + 4 * e;
                            Assert.Equal((lane * 16 + subtile / 2 * 4 + nibble / 2, nibble % 2 * 4), WeightFragments.Locate(4, k, n, row, column));
                        }
        }

        [Fact]
        public void Tiles_are_stored_n_major_so_a_strips_k_steps_are_contiguous()
        {
            const int k = 64, n = 128;
            Assert.Equal(0, WeightFragments.Locate(4, k, n, 0, 0).Byte);
            Assert.Equal(512, WeightFragments.Locate(4, k, n, 16, 0).Byte);          // next 16 rows: the next tile
            Assert.Equal(4 * 512, WeightFragments.Locate(4, k, n, 0, 64).Byte);      // next 64 columns: after all 4 K tiles
        }

        [Fact]
        public void A_lanes_eight_scale_columns_are_one_16_byte_vector()
        {
            for (int lane = 0; lane < 32; lane++)
            {
                var positions = Enumerable.Range(0, 8).Select(s => WeightFragments.ScalePosition(64 + s * 8 + lane / 4)).ToList();
                Assert.Equal(Enumerable.Range(64 + lane / 4 * 8, 8), positions);
            }
            Assert.Equal(Enumerable.Range(0, 128), Enumerable.Range(0, 128).Select(WeightFragments.ScalePosition).OrderBy(p => p));
        }

        [Fact]
        public void SwiGlu_interleaving_pairs_each_gate_column_with_its_up_column_in_the_same_tile()
        {
            const int n = 256;   // intermediate 128
            var source = Enumerable.Range(0, n).Select(d => WeightFragments.SourceColumn(d, n, interleaveGateUp: true)).ToList();
            Assert.Equal(Enumerable.Range(0, n), source.OrderBy(c => c));
            for (int d = 0; d < n; d++)
                if (d % 64 < 32) Assert.Equal(source[d] + n / 2, source[d + 32]);
            Assert.Equal(Enumerable.Range(0, n), Enumerable.Range(0, n).Select(d => WeightFragments.SourceColumn(d, n, interleaveGateUp: false)));
        }

        [Fact]
        public void N_is_padded_to_whole_tiles()
        {
            Assert.Equal(5056, WeightFragments.PaddedN(5000));
            Assert.Equal(8192L * 5056 / 2, WeightFragments.Bytes(8192, 5000, 4));
        }
    }
}
