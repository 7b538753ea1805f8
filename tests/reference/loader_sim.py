#!/usr/bin/env python3
"""Runs an emitted attention kernel's paged K/V loader (`load_kv`, `load_kv_ids`) on the host and checks every copy it issues.

The loader's text, its swizzle and the kernel's constants are cut out of the emitted .cu file and compiled with g++
(C++20) around shims: each loader thread is a host thread, a warp's `__shfl_sync` is a barrier over its 32 threads, and
`gc_cp_async16` records the copy. For tiles starting at every seventh multiple of the tile's keys over a 4096-token
context (an odd step, so a tile that can start mid-block does), and context ends inside and past the tile, the check is
that each (row, chunk) of the tile's K and V is copied exactly once, to its swizzled slot, from the row's block through a
random block table, and that rows past the end copy zero bytes (a tile inside the context takes the loader's branch
without row tests, the last one the other).

A decode kernel's warps also run their whole schedule (`WarpTiles`: where split z's warp w takes its tiles, and the
block ids its lanes hold, read before the context length is known): for several split counts and context lengths
(some past 32 tiles a warp, where the ids' rounds turn over), every position of the context is copied exactly once
across the splits' warps from its block, the rows past it copy zero bytes from inside the pool, and the table's
entries past the context (garbage here) are never used. No GPU needed (PagedLoaderSimulationTests runs it):

    graphc emit SPEC --arch sm_90 --out DIR; python3 tests/reference/loader_sim.py DIR/prefill_attention_*.cu DIR/decode_attention_*.cu
"""
import re

from host_program import constant, cut_function, int_constants, main, run_threads

SHIMS = r"""
#include <algorithm>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>
#define __device__
#define __forceinline__ inline
#define __builtin_assume(x) ((void)0)
typedef unsigned int gc_u32;
typedef unsigned short gc_f16, gc_bf16;
typedef unsigned char gc_e4m3, gc_e5m2;
CONSTANTS
constexpr int kSimHead = kKvHeads - 1;   // a KV head other than 0
thread_local int tl_lane, tl_warp;
std::vector<std::barrier<>*> warp_barrier;
std::vector<int> shfl_value;
int __shfl_sync(unsigned, int v, int src) {
    shfl_value[tl_warp * 32 + tl_lane] = v;
    warp_barrier[tl_warp]->arrive_and_wait();
    int r = shfl_value[tl_warp * 32 + src % 32];
    warp_barrier[tl_warp]->arrive_and_wait();
    return r;
}
struct Copy { long long src; int bytes; int count; };
std::mutex copies_lock;
std::map<unsigned, Copy> copies;
const gc_cache* pool_base;
void gc_cp_async16(gc_u32 dst, const void* src, int bytes) {
    std::lock_guard<std::mutex> hold(copies_lock);
    auto& c = copies[dst];
    c.src = (const gc_cache*)src - pool_base; c.bytes = bytes; c.count++;
}
// A decode kernel's copies under an L2 policy (gc_cp_async16_once) land as any other.
unsigned long long gc_l2_evict_first() { return 0; }
void gc_cp_async16_once(gc_u32 dst, const void* src, int bytes, unsigned long long) { gc_cp_async16(dst, src, bytes); }
const char* mad_wide(int a, int b, const char* p) { return p + (long long)a * b; }   // PTX mad.wide.s32
// Where chunk c of a position's K (kv 0) or V (kv 1) of the simulated head sits in the pool, through the block table.
long long pool_offset(const std::vector<int>& table, int position, int c, int kv) {
    return ((long long)table[position / kBlockSize] * 2 * kKvHeads + kSimHead) * kHeadRun + kv * kKvHeads * kHeadRun
           + (position % kBlockSize) * kHeadDim + c * (16 / sizeof(gc_cache));
}
FUNCTIONS
"""

TILE_MAIN = r"""
int main() {
    const int keys = KEYS_NAME, count = COUNT, blocks_n = 4096 / kBlockSize + 4;
    std::vector<gc_cache> pool((size_t)blocks_n * 2 * kKvHeads * kHeadRun);
    pool_base = pool.data();
    std::vector<int> table(blocks_n);
    for (int i = 0; i < blocks_n; ++i) table[i] = i;
    std::shuffle(table.begin(), table.end(), std::mt19937(7));
    warp_barrier.resize(count / 32);
    for (auto& b : warp_barrier) b = new std::barrier<>(32);
    shfl_value.resize(count);
    const gc_u32 k_dst = 0, v_dst = 1u << 24;
    int checked = 0, failures = 0;
    for (int first = 0; first + keys <= 4096; first += keys * 7)   // odd steps: both halves of a straddled block
        for (int end : {first + keys, first + 1, first + keys / 2 + 1, first + keys - 1, 4096}) {
            copies.clear();
            std::vector<std::thread> threads;
            for (int t = 0; t < count; ++t)
                threads.emplace_back([&, t] {
                    tl_lane = t % 32; tl_warp = t / 32;
                    load_kv<COUNT>(pool_base, table.data(), kSimHead, first, end, k_dst, v_dst, t);
                });
            for (auto& th : threads) th.join();
            size_t expected = 0;
            for (int r = 0; r < keys; ++r)
                for (int c = 0; c < kLoadChunks; ++c) {
                    const int position = first + r, at = SWIZZLE(r, c) * 16;
                    const bool valid = position < end;
                    for (int kv = 0; kv < 2; ++kv) {
                        auto it = copies.find((kv ? v_dst : k_dst) + at);
                        const long long want = pool_offset(table, position, c, kv);
                        ++expected; ++checked;
                        if (it == copies.end() || it->second.count != 1 || it->second.bytes != (valid ? 16 : 0)
                            || (valid && it->second.src != want)) {
                            if (failures++ < 5)
                                std::printf("first %d end %d row %d chunk %d %s: %s\n", first, end, r, c, kv ? "V" : "K",
                                            it == copies.end() ? "not copied" : "wrong copy");
                        }
                    }
                }
            if (copies.size() != expected && failures++ < 5) std::printf("first %d end %d: %zu copies, %zu expected\n", first, end, copies.size(), expected);
        }
    std::printf("%d slots checked, %d failures\n", checked, failures);
    return failures != 0;
}
"""


WARP_TILES_MAIN = r"""
// Split z's warps as the kernel runs them: WarpTiles read before the context length, limited by it, then every tile
// loaded in order. The copies' destinations name (split, warp, tile, K or V) above a tile's own bytes.
constexpr int kTileBits = 16, kMaxTiles = 256;
gc_u32 destination(int z, int w, int j, int kv) { return (gc_u32)((((z * kWarps + w) * kMaxTiles + j) * 2 + kv) << kTileBits); }
int main() {
    static_assert((2 * kTileBytes) <= (1 << kTileBits), "a tile's bytes below the destination's tag");
    std::map<int, std::pair<int, int>> slot;   // a tile's byte offset -> (row, chunk)
    for (int r = 0; r < kWarpKeys; ++r)
        for (int c = 0; c < kLoadChunks; ++c) slot[SWIZZLE(r, c) * 16] = {r, c};
    const int garbage = 1 << 28;   // table entries past the context: a copy from one lands far outside the pool
    int checked = 0, failures = 0, cases = 0;
    for (int launched : {1, 3, 8})   // one split: 33 and 65 tiles a warp at the last two contexts, past one and two rounds
        for (int cached : {0, 1, kWarpKeys - 1, kWarpKeys + 1, kBlockN, kBlockN + 1, 3 * kBlockN + 5, 1000, 32 * kBlockN + 7, 64 * kBlockN + 1}) {
            if (cached >= kMaxTiles * launched * kBlockN) continue;
            const int max_blocks = (cached + kBlockSize - 1) / kBlockSize + 3;
            std::vector<gc_cache> pool((size_t)max_blocks * 2 * kKvHeads * kHeadRun);
            pool_base = pool.data();
            std::vector<int> table(max_blocks);
            for (int i = 0; i < max_blocks; ++i) table[i] = i;
            std::shuffle(table.begin(), table.end(), std::mt19937(cached + launched));
            for (int i = 0; i < max_blocks; ++i) if (i * kBlockSize >= cached) table[i] = garbage + i;
            const int splits = std::min(launched, std::max(1, (cached + kBlockN - 1) / kBlockN));
            copies.clear();
            warp_barrier.clear();
            for (int w = 0; w < splits * kWarps; ++w) warp_barrier.push_back(new std::barrier<>(32));
            shfl_value.assign(splits * kWarps * 32, 0);
            std::vector<std::thread> threads;
            for (int t = 0; t < splits * kWarps * 32; ++t)
                threads.emplace_back([&, t] {
                    const int z = t / (kWarps * 32), w = t / 32 % kWarps, lane = t % 32;
                    tl_lane = lane; tl_warp = t / 32;
                    WarpTiles tiles{table.data(), max_blocks, lane, (z * kWarps + w) * kWarpKeys, launched * kBlockN};
                    tiles.start();
                    tiles.limit(cached);
                    for (int j = 0, n = tiles.count(); j < n; ++j) {
                        const int id_lane = tiles.id_lane(j);
                        load_kv_ids<32>(pool_base, table.data(), tiles.ids, id_lane, kSimHead, tiles.first(j), cached,
                                        destination(z, w, j, 0), destination(z, w, j, 1), lane);
                    }
                });
            for (auto& th : threads) th.join();
            for (auto* b : warp_barrier) delete b;
            ++cases;
            std::vector<int> seen((size_t)cached * kLoadChunks * 2, 0);
            for (const auto& [dst, copy] : copies) {
                const int tag = dst >> kTileBits, kv = tag % 2, j = tag / 2 % kMaxTiles, warp = tag / 2 / kMaxTiles;
                const int z = warp / kWarps, w = warp % kWarps;
                const auto [r, c] = slot.at(dst & ((1 << kTileBits) - 1));
                const int position = ((z + j * launched) * kWarps + w) * kWarpKeys + r;
                const long long inside = (long long)pool.size();
                ++checked;
                bool ok = copy.count == 1 && copy.src >= 0 && copy.src < inside;
                if (position < cached) {
                    ok = ok && copy.bytes == 16 && copy.src == pool_offset(table, position, c, kv);
                    if (ok) ++seen[((size_t)position * kLoadChunks + c) * 2 + kv];
                } else {
                    ok = ok && copy.bytes == 0;
                }
                if (!ok && failures++ < 5)
                    std::printf("splits %d cached %d: split %d warp %d tile %d row %d chunk %d %s: %s\n", launched, cached, z, w, j, r, c,
                                kv ? "V" : "K", copy.count != 1 ? "copied twice" : copy.src < 0 || copy.src >= inside ? "outside the pool" : "wrong copy");
            }
            for (size_t i = 0; i < seen.size(); ++i)
                if (seen[i] != 1 && failures++ < 5)
                    std::printf("splits %d cached %d: position %zu chunk %zu %s copied %d times\n", launched, cached,
                                i / 2 / kLoadChunks, i / 2 % kLoadChunks, i % 2 ? "V" : "K", seen[i]);
        }
    std::printf("%d contexts and split counts, %d copies checked, %d failures\n", cases, checked, failures);
    return failures != 0;
}
"""

def simulate(path):
    source = open(path).read()
    call = re.search(r"load_kv(?:_ids)?<((?!kCount>)[^>]+)>\(kv_pool,", source)   # the kernel's call, not the wrapper's
    constants = int_constants(source)
    constants += "\n" + re.search(r"^typedef \w+ gc_cache;.*$", source, re.M).group(0)
    count = eval(re.sub(r"k\w+", lambda m: str(constant(source, m.group(0))), call.group(1)))
    functions = cut_function(source, "__device__ __forceinline__ int swizzle(")
    loader = (cut_function(source, "__device__ __forceinline__ void load_kv_ids(")
              + cut_function(source, "__device__ __forceinline__ void load_kv("))
    fp8 = "code_swizzle(r, c)" in loader
    if fp8:
        functions += cut_function(source, "__device__ __forceinline__ int code_swizzle(")
    keys = re.search(r"kPasses = \((k\w+) \+ kRows", loader).group(1)
    shims = SHIMS.replace("CONSTANTS", constants).replace("FUNCTIONS", functions + loader)
    swizzle = "code_swizzle" if fp8 else "swizzle"
    summary = (f"{keys} = {constant(source, keys)} keys, {count} loaders, block_size {constant(source, 'kBlockSize')}, "
               f"{constant(source, 'kLoadChunks')} chunks a row")
    passed = run_threads(path, shims + TILE_MAIN.replace("KEYS_NAME", keys).replace("COUNT", str(count)).replace("SWIZZLE", swizzle), summary)
    if "struct WarpTiles {" in source:
        warp_tiles = cut_function(source, "struct WarpTiles {").rstrip() + ";\n"
        program = shims + warp_tiles + WARP_TILES_MAIN.replace("SWIZZLE", swizzle)
        passed = run_threads(path, program, f"the warps' schedule: {constant(source, 'kWarps')} warps of {constant(source, 'kWarpKeys')} keys, "
                                            f"{constant(source, 'kIdTiles')} tiles' ids a round") and passed
    return passed

if __name__ == "__main__":
    main(__doc__, simulate)
