#!/usr/bin/env python3
"""Runs an emitted prefill kernel's copied Q prologue on the host (the block-barrier loop over an fp16/bf16 cache): each
warp's Q rows and their RoPE angles copied into shared memory, then rotated in place.

The lambdas (`copy_q`, `copy_angles`, `rotate_q`) and the job's prologue statements are cut out of the emitted .cu file
and compiled with g++ (C++20) around shims: every CUDA thread of a CTA a host thread, `__syncwarp` a barrier over its
warp, the rotation a check, and `cp.async` as the hardware orders it: a thread's copies join its open group, a commit
closes the group (the K/V pipeline's start commits its kStages − 1 groups, empty here), and a copy lands only when a
wait leaves fewer groups pending than are newer than its own. Values carry where they came from: a qkv element of the
job's head is its row and dimension, the angles of a row's pair are that row (plus one, so no angle of a row is zero) and
pair, and qkv and the scratch end at the tile's last row. For a full query tile, a short one and a one-row one, the
checks are: every q_s element of a row the tile has holds its own row's dimension, rotated once, with its own row's
angles of its own pair (dimension d with d + head_dim / 2); rows past the tile are zeros; every copy reads inside qkv
or the scratch, a Q copy lands in the Q tile and an angle copy in the K/V stage the first tiles leave free, and no two
warps copy into the same bytes. No GPU needed (QCopySimulationTests runs it):

    graphc emit SPEC --arch sm_80 --out DIR; python3 tests/reference/q_copy_sim.py DIR/prefill_attention_*.cu
"""
from host_program import constant, cut_function, int_constants, main, run_threads

HARNESS = r"""
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>
#define __device__
#define __forceinline__ inline
#define __restrict__
typedef unsigned int gc_u32;
typedef uint16_t gc_act;   // a label: (row in the tile) × head_dim + dimension, bit 15 once rotated
struct gc_act8 { gc_act v[8]; };
struct uint4 { gc_u32 x, y, z, w; };
struct gc_rope_halves { gc_act8 lo, hi; };
int min(int a, int b) { return a < b ? a : b; }
CONSTANTS
constexpr gc_act kRotated = 0x8000;
constexpr int kSmemBytes = kBlockM * kHeadDim * 2 + kStages * 2 * kTileBytes;
alignas(16) unsigned char smem[kSmemBytes];
std::vector<int> owner(kSmemBytes / 16, -1);   // the warp that copied into each 16 bytes
std::atomic<int> wrong{0};
std::mutex log_lock;
thread_local int tl_warp;
std::vector<std::barrier<>*> warp_barrier;
void __syncwarp() { warp_barrier[tl_warp]->arrive_and_wait(); }
gc_u32 gc_smem_address(const void* p) { return (gc_u32)((const unsigned char*)p - smem); }
const unsigned char *qkv_begin, *qkv_end, *rope_begin, *rope_end;   // the step's buffers
struct Copy { gc_u32 dst; const void* src; int bytes; };
thread_local std::vector<std::vector<Copy>> groups;   // this thread's committed groups, oldest first
thread_local std::vector<Copy> open_group;
void gc_cp_async16(gc_u32 dst, const void* src, int bytes) {
    const unsigned char* from = (const unsigned char*)src;
    const bool from_qkv = from >= qkv_begin && from + 16 <= qkv_end, from_rope = from >= rope_begin && from + 16 <= rope_end;
    const int angles_at = kBlockM * kHeadDim * 2 + (kStages - 1) * 2 * kTileBytes;
    const bool q_tile = dst < (gc_u32)(kBlockM * kHeadDim * 2);
    const bool free_stage = (int)dst >= angles_at && (int)dst + 16 <= angles_at + 2 * kTileBytes;
    {
        std::lock_guard<std::mutex> hold(log_lock);
        if (dst % 16 != 0 || !(from_qkv && q_tile || from_rope && free_stage) || (owner[dst / 16] != -1 && owner[dst / 16] != tl_warp)) ++wrong;
        else owner[dst / 16] = tl_warp;
    }
    open_group.push_back({dst, src, bytes});
}
void gc_cp_async_commit() { groups.push_back(open_group); open_group.clear(); }
template <int kPending> void gc_cp_async_wait() {
    while ((int)groups.size() > kPending) {
        for (const Copy& c : groups.front())
            if (c.bytes == 16) std::memcpy(smem + c.dst, c.src, 16);
            else std::memset(smem + c.dst, 0, 16);
        groups.erase(groups.begin());
    }
}
template <typename Load> void kv_pipeline_start(int, Load) {
    for (int stage = 0; stage < kStages - 1; ++stage) gc_cp_async_commit();   // the first tiles' groups (their copies not simulated)
}
float gc_act_to_f32(gc_act v) { return (float)v; }
// The rotation's check: both halves of one row's dimension pair, unrotated, and the angles of that row and pair. A zero
// row (past the tile) comes with zero angles and stays zero.
template <typename CosSin>
void gc_rope_rotate8(const gc_rope_halves& x, int d0, CosSin cos_sin, gc_act8& lo, gc_act8& hi) {
    for (int e = 0; e < 8; ++e) {
        float c, s;
        cos_sin(d0 + e, c, s);
        lo.v[e] = x.lo.v[e];
        hi.v[e] = x.hi.v[e];
        if (x.lo.v[e] == 0 && x.hi.v[e] == 0 && c == 0 && s == 0) continue;
        const int row = x.lo.v[e] / kHeadDim;
        if ((x.lo.v[e] & kRotated) || x.lo.v[e] != row * kHeadDim + d0 + e || x.hi.v[e] != row * kHeadDim + d0 + e + kHalf
            || c != (float)(row + 1) || s != (float)(d0 + e)) ++wrong;
        lo.v[e] |= kRotated;
        hi.v[e] |= kRotated;
    }
}
struct QueryTile { int row0, rows; };
struct Job { QueryTile t; int h, kv_tiles; };
FUNCTIONS
void run_thread(int tid, const gc_act* qkv, const gc_u32* rope, const Job& J) {
    const int warp = tid / 32, lane = tid % 32, warp_row0 = warp * kWarpRows;
    tl_warp = warp;
    groups.clear();
    open_group.clear();
    gc_act* q_s = reinterpret_cast<gc_act*>(smem);
    unsigned char* stage_s = smem + kBlockM * kHeadDim * 2;
    auto load = [](int, int) {};
LAMBDAS
PROLOGUE
}
int main() {
    const int row0 = 5, head = kHeads / 2;
    if (kBlockM * kHeadDim > 32768) { std::printf("block_m %d: labels past 15 bits\n", kBlockM); return 1; }
    for (int w = 0; w < kWarps; ++w) warp_barrier.push_back(new std::barrier<>(32));
    int failures = 0, checked = 0;
    for (int rows : {kBlockM, kBlockM - 37, 1}) {
        const int tokens = row0 + rows;   // the tile's rows are the step's last
        std::vector<gc_act> qkv((size_t)tokens * kQkvStride, 0x7FFF);   // other heads' elements: never copied
        std::vector<gc_u32> rope((size_t)tokens * kHalf);
        for (int r = 0; r < tokens; ++r) {
            for (int d = 0; d < kHeadDim; ++d) qkv[(size_t)r * kQkvStride + head * kHeadDim + d] = (gc_act)((r - row0) * kHeadDim + d);
            for (int p = 0; p < kHalf; ++p) rope[(size_t)r * kHalf + p] = (gc_u32)(r - row0 + 1) | (gc_u32)p << 16;
        }
        qkv_begin = (const unsigned char*)qkv.data(); qkv_end = (const unsigned char*)(qkv.data() + qkv.size());
        rope_begin = (const unsigned char*)rope.data(); rope_end = (const unsigned char*)(rope.data() + rope.size());
        std::memset(smem, 0xAB, sizeof smem);
        std::fill(owner.begin(), owner.end(), -1);
        const Job J{{row0, rows}, head, 1};
        std::vector<std::thread> threads;
        for (int t = 0; t < kWarps * 32; ++t) threads.emplace_back([&, t] { run_thread(t, qkv.data(), rope.data(), J); });
        for (auto& th : threads) th.join();
        const gc_act* q_s = reinterpret_cast<const gc_act*>(smem);
        for (int r = 0; r < kBlockM; ++r)
            for (int c = 0; c < kChunks; ++c)
                for (int e = 0; e < 8; ++e, ++checked) {
                    const gc_act got = q_s[swizzle(r, c) * 8 + e];
                    const gc_act want = r < rows ? (gc_act)((r * kHeadDim + c * 8 + e) | kRotated) : 0;
                    if (got != want && failures++ < 5) std::printf("%d rows: q_s row %d dim %d holds %#x, not %#x\n", rows, r, c * 8 + e, got, want);
                }
    }
    if (wrong) { ++failures; std::printf("%d rotations with the wrong angles or halves, or copies out of place\n", wrong.load()); }
    std::printf("%d warps of %d rows, %d-row rounds: %d q_s elements checked, %d failures\n", kWarps, kWarpRows, kQRoundRows, checked, failures);
    return failures != 0;
}
"""


def cut_lambdas(source):
    """From `angles_s` through the end of the `rotate_q` lambda."""
    start = source.index("    gc_u32* const angles_s =")
    rotate = "    auto rotate_q = [&](int row0) {"
    return source[start:source.index(rotate, start)] + cut_function(source, rotate).rstrip("\n") + ";\n"


def cut_prologue(source):
    """The job's Q statements, from its copies to the barrier (or fence) that publishes Q."""
    start = source.index("        copy_q(J, warp_row0);")
    ends = [source.find(marker, start) for marker in ("\n        __syncthreads();", "\n        gc_fence_proxy_async();")]
    return source[start:min(e for e in ends if e != -1) + 1]


def simulate(path):
    source = open(path).read()
    functions = cut_function(source, "__device__ __forceinline__ int swizzle(int row, int chunk)") \
        + cut_function(source, "__device__ __forceinline__ void rotate_q8(")
    program = HARNESS.replace("CONSTANTS", int_constants(source) + f"\nconstexpr int kWarps = {constant(source, 'kThreads') // 32};") \
        .replace("FUNCTIONS", functions).replace("LAMBDAS", cut_lambdas(source)).replace("PROLOGUE", cut_prologue(source))
    return run_threads(path, program, f"block_m {constant(source, 'kBlockM')}, block_n {constant(source, 'kBlockN')}, {constant(source, 'kStages')} stages, "
                                      f"head_dim {constant(source, 'kHeadDim')}")


if __name__ == "__main__":
    main(__doc__, simulate)
