#!/usr/bin/env python3
"""Runs an emitted attention kernel's paged K/V loader (`load_kv`) on the host and checks every copy it issues.

The loader's text, its swizzle and the kernel's constants are cut out of the emitted .cu file and compiled with g++
(C++20) around shims: each loader thread is a host thread, a warp's `__shfl_sync` is a barrier over its 32 threads, and
`gc_cp_async16` records the copy. For tiles starting at every seventh multiple of the tile's keys over a 4096-token
context (an odd step, so a tile that can start mid-block does), and context ends inside and past the tile, the check is
that each (row, chunk) of the tile's K and V is copied exactly once, to its swizzled slot, from the row's block through a
random block table, and that rows past the end copy zero bytes (a tile inside the context takes the loader's branch
without row tests, the last one the other). No GPU needed (PagedLoaderSimulationTests runs it):

    graphc emit SPEC --arch sm_90 --out DIR; python3 tests/reference/loader_sim.py DIR/prefill_attention_*.cu DIR/decode_attention_*.cu
"""
import re

from host_program import constant, cut_function, int_constants, main, run_threads

HARNESS = r"""
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
const char* mad_wide(int a, int b, const char* p) { return p + (long long)a * b; }   // PTX mad.wide.s32
FUNCTIONS
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
                    const long long k = ((long long)table[position / kBlockSize] * 2 * kKvHeads + kSimHead) * kHeadRun
                                        + (position % kBlockSize) * kHeadDim + c * (16 / sizeof(gc_cache));
                    const bool valid = position < end;
                    for (int kv = 0; kv < 2; ++kv) {
                        auto it = copies.find((kv ? v_dst : k_dst) + at);
                        const long long want = k + kv * kKvHeads * kHeadRun;
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


def simulate(path):
    source = open(path).read()
    call = re.search(r"load_kv<([^>]+)>\(kv_pool,", source)
    constants = int_constants(source)
    constants += "\n" + re.search(r"^typedef \w+ gc_cache;.*$", source, re.M).group(0)
    count = eval(re.sub(r"k\w+", lambda m: str(constant(source, m.group(0))), call.group(1)))
    functions = cut_function(source, "__device__ __forceinline__ int swizzle(")
    fp8 = "code_swizzle(r, c)" in cut_function(source, "__device__ __forceinline__ void load_kv(")
    if fp8:
        functions += cut_function(source, "__device__ __forceinline__ int code_swizzle(")
    loader = cut_function(source, "__device__ __forceinline__ void load_kv(")
    keys = re.search(r"kPasses = \((k\w+) \+ kRows", loader).group(1)
    program = (HARNESS.replace("CONSTANTS", constants).replace("FUNCTIONS", functions + loader)
               .replace("KEYS_NAME", keys).replace("COUNT", str(count))
               .replace("SWIZZLE", "code_swizzle" if fp8 else "swizzle"))
    return run_threads(path, program, f"{keys} = {constant(source, keys)} keys, {count} loaders, block_size {constant(source, 'kBlockSize')}, "
                                      f"{constant(source, 'kLoadChunks')} chunks a row")


if __name__ == "__main__":
    main(__doc__, simulate)
