#!/usr/bin/env python3
"""Runs an emitted mma.sync prefill kernel's two products (`flash_scores`, `flash_pv`) on the host and checks the address
of every ldmatrix they issue.

The products step through the swizzled Q, K and V tiles by an XOR a step (`ldmatrix_lane`, `chunk_step`) rather than by
the swizzle of each row and chunk; this checks the two agree. The kernel's constants, swizzle and product functions are cut
out of the emitted .cu file and compiled with g++ around shims that record each ldmatrix's address (the tensor cores do
nothing). For every warp of the query tile, every lane, and tile bases that are and are not multiples of 128 bytes, the
addresses must be, in the order issued, those of ldmatrix's lane contract through `swizzle`: Q·Kᵀ's A fragments (lane l
gives row l % 16 of the warp's 16-row tile at chunk 2·ks + l / 16), its K fragments of two 8-key n-tiles (key
(l / 16)·8 + l % 8, chunk 2·ks + (l / 8) % 2), and P·V's V fragments through ldmatrix.trans (key l % 8 + ((l / 8) % 2)·8,
chunk 2·dp + l / 16). No GPU needed (LdmatrixAddressSimulationTests runs it):

    graphc emit SPEC --arch sm_80 --out DIR; python3 tests/reference/ldmatrix_address_sim.py DIR/prefill_attention_*.cu
"""
import os
import re

from host_program import constant, cut_function, int_constants, main, run_program

HARNESS = r"""
#include <cstdio>
#include <vector>
#define __device__
#define __forceinline__ inline
typedef unsigned int gc_u32;
CONSTANTS
static std::vector<gc_u32> plain, trans;
static void gc_ldmatrix_x4(gc_u32 a[4], gc_u32 address) { plain.push_back(address); a[0] = a[1] = a[2] = a[3] = 0; }
static void gc_ldmatrix_x4_trans(gc_u32 a[4], gc_u32 address) { trans.push_back(address); a[0] = a[1] = a[2] = a[3] = 0; }
static void gc_mma_m16n8k16(float*, const gc_u32*, gc_u32, gc_u32) {}
static gc_u32 gc_pack_act2(float, float) { return 0; }
FUNCTIONS
int main() {
    int failures = 0, checked = 0;
    for (gc_u32 base : {0x10000u, 0x10030u})
        for (int row0 = 0; row0 < kBlockM; row0 += kMTiles * 16)
            for (int lane = 0; lane < 32; ++lane) {
                const gc_u32 q_base = base, k_base = base + 0x20000, v_base = base + 0x40000;
                plain.clear(); trans.clear();
                float s[kMTiles][KEYS / 8][4], o[kMTiles][kHeadDim / 8][4];
                flash_scores(s, q_operand(q_base, row0, lane), k_base, lane);
                flash_pv(o, s, v_base, lane);
                std::vector<gc_u32> want_plain, want_trans;
                for (int ks = 0; ks < kHeadDim / 16; ++ks) {
                    for (int mt = 0; mt < kMTiles; ++mt)
                        want_plain.push_back(q_base + swizzle(row0 + mt * 16 + lane % 16, 2 * ks + lane / 16) * 16);
                    for (int np = 0; np < KEYS / 16; ++np)
                        want_plain.push_back(k_base + swizzle(16 * np + lane / 16 * 8 + lane % 8, 2 * ks + lane / 8 % 2) * 16);
                }
                for (int kk = 0; kk < KEYS / 16; ++kk)
                    for (int dp = 0; dp < kHeadDim / 16; ++dp)
                        want_trans.push_back(v_base + swizzle(16 * kk + lane % 8 + lane / 8 % 2 * 8, 2 * dp + lane / 16) * 16);
                checked += want_plain.size() + want_trans.size();
                if (plain != want_plain || trans != want_trans) {
                    if (failures++ < 5) {
                        size_t i = 0;
                        while (i < plain.size() && i < want_plain.size() && plain[i] == want_plain[i]) ++i;
                        std::printf("base %#x rows from %d lane %d: ldmatrix %zu of %zu at %#x, want %#x; ldmatrix.trans %s\n", base,
                                    row0, lane, i, want_plain.size(), i < plain.size() ? plain[i] : 0u,
                                    i < want_plain.size() ? want_plain[i] : 0u, trans == want_trans ? "right" : "wrong");
                    }
                }
            }
    std::printf("%d addresses checked, %d failures\n", checked, failures);
    return failures != 0;
}
"""


def simulate(path):
    source = open(path).read()
    keys = re.search(r"void flash_scores\(float \(&s\)\[kMTiles\]\[(k\w+) / 8\]", source).group(1)
    functions = "".join(cut_function(source, f"__device__ __forceinline__ {signature}(") for signature in (
        "int swizzle", "void p_fragments", "void zero_scores", "gc_u32 ldmatrix_lane", "gc_u32 chunk_step"))
    functions += re.search(r"^struct QOperand \{.*$", source, re.M).group(0) + "\n"
    functions += "".join(cut_function(source, f"__device__ __forceinline__ {signature}(") for signature in (
        "QOperand q_operand", "void flash_scores", "void flash_pv"))
    program = HARNESS.replace("CONSTANTS", int_constants(source)).replace("FUNCTIONS", functions).replace("KEYS", keys)
    code, printed = run_program(program)
    print(f"{os.path.basename(path)}: {constant(source, 'kBlockM')} x {constant(source, keys)} tile, {constant(source, 'kMTiles')} "
          f"m-tiles a warp, head_dim {constant(source, 'kHeadDim')}: {printed}")
    return code == 0


if __name__ == "__main__":
    main(__doc__, simulate)
