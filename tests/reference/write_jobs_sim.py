#!/usr/bin/env python3
"""Runs an emitted prefill kernel's write jobs (`write_new_rows`) on the host: every new K and V row into its cache slot once.

The function and the query-tile lookup are cut out of the emitted .cu file and compiled with g++ (C++20) around shims:
three CTAs run at once, each a host thread per CUDA thread, `__syncthreads` a barrier over its CTA, `atomicAdd` a real
atomic, and the CTA's shared tickets its own. Values carry where they came from: qkv holds each element's own offset
(as a float, exact at these sizes), RoPE's cos and sin shims return the position and the pair index, the rotation hands
the loaded halves through, and `store_row8` counts every element it writes. For a ragged step (a cached prefix, tiles of
every length, a one-token sequence) over random block tables the checks are: every new row's K and V of every KV head
written exactly once, each element from its own qkv element, and rotated with its own row's position and pair index;
no other slot of the pool written; the KV head 0 jobs' angles in the rope scratch at each new row; and the jobs counted
done equal to the jobs there are, however the tickets fell. No GPU needed (WriteJobsSimulationTests runs it):

    graphc emit SPEC --arch sm_90 --out DIR; python3 tests/reference/write_jobs_sim.py DIR/prefill_attention_*.cu
"""
from host_program import constant, cut_function, int_constants, main, run_threads

HARNESS = r"""
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>
#define __device__
#define __forceinline__ inline
#define __restrict__
typedef unsigned int gc_u32;
typedef float gc_act;     // every qkv element its own offset, exact below 2^24
typedef float gc_cache;
struct gc_act8 { gc_act v[8]; };
struct uint4 { gc_u32 x, y, z, w; };
uint4 make_uint4(gc_u32 x, gc_u32 y, gc_u32 z, gc_u32 w) { return {x, y, z, w}; }
int min(int a, int b) { return a < b ? a : b; }
CONSTANTS
constexpr int kCtas = 3;
thread_local struct { unsigned x; } threadIdx;
thread_local int tl_cta;
std::vector<std::barrier<>*> cta_barrier;
int sim_ticket[kCtas][2];
void __syncthreads() { cta_barrier[tl_cta]->arrive_and_wait(); }
void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
float gc_act_to_f32(gc_act v) { return v; }
gc_act gc_f32_to_act(float f) { return f; }
// cos is the position and sin the pair index, so a rotation and the angles left in rope say which they were made with.
void gc_rope_cos_sin(float position, int i, float& c, float& s) { c = position; s = (float)i; }
std::vector<int> positions_of;   // the qkv row's position, for the rotation's check
std::atomic<int> wrong_rotations{0};
ROPE_LOAD
template <typename CosSin>
void gc_rope_rotate8(const gc_rope_halves& x, int d0, CosSin cos_sin, float x1[8], float x2[8]) {
    for (int e = 0; e < 8; ++e) {
        float c, s;
        cos_sin(d0 + e, c, s);
        const int row = (int)x.lo.v[e] / kQkvStride;
        if (c != (float)positions_of[row] || s != (float)(d0 + e) || (int)x.lo.v[e] % kHeadDim != d0 + e) ++wrong_rotations;
        x1[e] = x.lo.v[e];
        x2[e] = x.hi.v[e];
    }
}
gc_cache* pool_base;
std::vector<std::atomic<int>>* writes;
void store_row8(gc_cache* p, float, const float v[8]) {
    for (int e = 0; e < 8; ++e) { p[e] = v[e]; ++(*writes)[p - pool_base + e]; }
}
FUNCTIONS
int main() {
    // (cached prefix, new tokens): tiles of every length, a one-token sequence, a prefix that starts mid-block
    const int steps[][2] = {{0, 2 * kBlockM + 37}, {45, kBlockM}, {7, 1}, {0, kBlockM - 1}};
    const int sequences = 4, max_blocks = (45 + 3 * kBlockM) / kBlockSize + 2;
    std::vector<int> cu_seqlens{0}, context_lens, tile_jobs, block_tables(sequences * max_blocks);
    for (int s = 0; s < sequences; ++s) {
        cu_seqlens.push_back(cu_seqlens.back() + steps[s][1]);
        context_lens.push_back(steps[s][0] + steps[s][1]);
        for (int t = 0; t * kBlockM < steps[s][1]; ++t) tile_jobs.push_back(s << 16 | t);
    }
    const int rows = cu_seqlens.back(), q_blocks = (int)tile_jobs.size(), blocks_n = sequences * max_blocks;
    if ((long long)rows * kQkvStride >= 1 << 24) { std::printf("%d rows of %d: offsets past a float's exact integers\n", rows, kQkvStride); return 1; }
    std::vector<int> ids(blocks_n);
    for (int i = 0; i < blocks_n; ++i) ids[i] = i;
    std::shuffle(ids.begin(), ids.end(), std::mt19937(11));
    block_tables = ids;
    std::vector<float> qkv((size_t)rows * kQkvStride);
    for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = (float)i;
    std::vector<int> positions(rows);
    positions_of.resize(rows);
    for (int s = 0; s < sequences; ++s)
        for (int i = 0; i < steps[s][1]; ++i) positions[cu_seqlens[s] + i] = positions_of[cu_seqlens[s] + i] = steps[s][0] + i;
    std::vector<float> pool((size_t)blocks_n * 2 * kKvHeads * kHeadRun, -1.0f);
    std::vector<std::atomic<int>> write_count(pool.size());
    pool_base = pool.data(); writes = &write_count;
    std::vector<gc_u32> rope((size_t)rows * kHalf, 0xFFFFFFFFu);
    int sync[3] = {0, 0, 0};
    for (int c = 0; c < kCtas; ++c) cta_barrier.push_back(new std::barrier<>(kThreads));
    std::vector<std::thread> threads;
    for (int c = 0; c < kCtas; ++c)
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, c, t] {
                tl_cta = c; threadIdx.x = t;
                write_new_rows(qkv.data(), positions.data(), pool.data(), block_tables.data(), max_blocks, cu_seqlens.data(),
                               context_lens.data(), tile_jobs.data(), sync, rope.data(), q_blocks, 1.0f, 1.0f);
            });
    for (auto& th : threads) th.join();

    int failures = 0, checked = 0;
    auto fail = [&](const char* what, int s, int i, int g, int d) {
        if (failures++ < 5) std::printf("sequence %d token %d KV head %d dim %d: %s\n", s, i, g, d, what);
    };
    std::vector<char> expected(pool.size(), 0);
    for (int s = 0; s < sequences; ++s)
        for (int i = 0; i < steps[s][1]; ++i) {
            const int row = cu_seqlens[s] + i, position = steps[s][0] + i;
            for (int g = 0; g < kKvHeads; ++g)
                for (int kv = 0; kv < 2; ++kv)
                    for (int d = 0; d < kHeadDim; ++d) {
                        const size_t at = ((size_t)block_tables[s * max_blocks + position / kBlockSize] * 2 * kKvHeads + kv * kKvHeads + g) * kHeadRun
                                          + (size_t)(position % kBlockSize) * kHeadDim + d;
                        const float want = (float)((size_t)row * kQkvStride + (kHeads + kv * kKvHeads + g) * kHeadDim + d);
                        expected[at] = 1; ++checked;
                        if (write_count[at] != 1) fail(write_count[at] == 0 ? "not written" : "written twice", s, i, g, d);
                        else if (pool[at] != want) fail(kv ? "V from the wrong element" : "K from the wrong element", s, i, g, d);
                    }
            for (int p = 0; p < kHalf; ++p)
                if (rope[(size_t)row * kHalf + p] != ((gc_u32)position | (gc_u32)p << 16)) fail("angles missing or wrong", s, i, 0, p);
        }
    for (size_t at = 0; at < pool.size(); ++at)
        if (!expected[at] && write_count[at] != 0 && failures++ < 5) std::printf("slot %zu written, no new row's\n", at);
    if (wrong_rotations) { ++failures; std::printf("%d elements rotated with another row's angles\n", wrong_rotations.load()); }
    const int jobs = q_blocks * kKvHeads * kWriteParts;   // what the kernel's wait counts to
    if (sync[1] != jobs) { ++failures; std::printf("%d jobs counted done of %d\n", sync[1], jobs); }
    std::printf("%d rows, %d tiles, %d jobs on %d CTAs: %d elements checked, %d failures\n", rows, q_blocks, jobs, kCtas, checked, failures);
    return failures != 0;
}
"""


def simulate(path):
    source = open(path).read()
    constants = int_constants(source)
    rope_load = cut_function(source, "__device__ __forceinline__ gc_rope_halves gc_rope_load(")
    rope_load = source[source.index("struct gc_rope_halves"):source.index("\n", source.index("struct gc_rope_halves")) + 1] + rope_load
    query_tile = source[source.index("struct QueryTile {"):source.index("};", source.index("struct QueryTile {")) + 3]
    query_tile += cut_function(source, "__device__ __forceinline__ QueryTile query_tile(")
    writer = cut_function(source, "__device__ __forceinline__ void write_new_rows(")
    assert "__shared__ int ticket[2];" in writer, "write_new_rows' tickets are not where the harness expects them"
    writer = writer.replace("__shared__ int ticket[2];", "int* ticket = sim_ticket[tl_cta];")   # each CTA its own
    program = HARNESS.replace("CONSTANTS", constants).replace("ROPE_LOAD", rope_load).replace("FUNCTIONS", query_tile + writer)
    return run_threads(path, program, f"{constant(source, 'kThreads')} threads, {constant(source, 'kWriteRows')} rows a job, "
                                      f"block_m {constant(source, 'kBlockM')}, head_dim {constant(source, 'kHeadDim')}")


if __name__ == "__main__":
    main(__doc__, simulate)
