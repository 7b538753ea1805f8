#!/usr/bin/env python3
"""PyTorch's own kernels on the shapes graphc runs, timed the same way (CUDA events around CUDA-graph replays, warm-up,
median of many, inputs rotated past L2), so `graphc bench --peer` can print the ratio side by side.

Usage: peer_bench.py BENCH_JSON > PEER_JSON
  BENCH_JSON is `graphc bench SPEC --json`. For each elementwise kernel there the script times PyTorch's equivalent
  (F.embedding, x + d then F.rms_norm, Hugging Face's rotate-half RoPE, F.silu(g) * u) at the same rows, and for each
  GEMM (a spec's, or `--gemm-shapes` sweep's) cuBLAS fp16 and the scheme's own kernel at the same K, N and M, and for
  each prefill attention point (`--prefill-points`) causal SDPA under the flash and the cuDNN backend; it also times
  the peers the attention and GEMM issues compare against at Llama-2-70B shapes: SDPA flash and cuDNN, cuBLAS fp16,
  torch._weight_int4pack_mm (g128) and torch._scaled_mm (FP8), the device-to-device copy bandwidth, and an 8192³ bf16
  matmul (the tensor-core roofline).
"""
import json
import math
import re
import statistics
import sys

import torch
import torch.nn.functional as F

REPS, WARMUP = 50, 5
DEV = "cuda"


REPLAY_US, MAX_CALLS_PER_REPLAY = 200.0, 64
# Peers whose calls could not be captured into a CUDA graph, timed eagerly instead (host launch gaps included).
EAGER = []


def _timed(run, reps):
    """Milliseconds of each of reps calls of run(i), queued back to back between events (no host wait in between)."""
    marks = [torch.cuda.Event(enable_timing=True) for _ in range(reps + 1)]
    marks[0].record()
    for i in range(reps):
        run(i)
        marks[i + 1].record()
    marks[-1].synchronize()
    return [marks[i].elapsed_time(marks[i + 1]) for i in range(reps)]


def time_us(fn, sets):
    """Median microseconds of one fn(*inputs), timed as graphc bench times its kernels: calls cycling through the input
    sets captured into a CUDA graph, replays queued back to back and each timed, over the calls a replay holds (enough
    to last REPLAY_US, judged from calls timed one by one). Host launch overhead stays out. A peer that cannot be
    captured is timed eagerly and listed in EAGER."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the capture stream, as CUDA-graph capture wants
        for i in range(WARMUP):
            fn(*sets[i % len(sets)])
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    alone = statistics.median(_timed(lambda i: fn(*sets[i % len(sets)]), WARMUP)) * 1000.0
    calls = max(1, min(MAX_CALLS_PER_REPLAY, math.ceil(REPLAY_US / max(alone, 1e-3))))
    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for i in range(calls):
                fn(*sets[i % len(sets)])
    except Exception as e:
        torch.cuda.synchronize()
        EAGER.append(f"{getattr(fn, '__name__', 'peer')}: {str(e)[:120]}")
        return statistics.median(_timed(lambda i: fn(*sets[i % len(sets)]), REPS)) * 1000.0
    for _ in range(WARMUP):
        graph.replay()
    torch.cuda.synchronize()
    us = statistics.median(_timed(lambda i: graph.replay(), REPS)) * 1000.0 / calls
    del graph
    return us


def rotating(make, bytes_per_set):
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    copies = max(1, min(16, 2 * l2 // max(1, bytes_per_set) + 1))
    return [make() for _ in range(copies)]


def num(pattern, name):
    m = re.search(pattern, name)
    return int(m.group(1)) if m else None


def dtype_of(bench):
    return torch.bfloat16 if "bf16" in bench.get("spec", "") else torch.float16


def peer_for(entry, dt):
    name, rows = entry["kernel"], max(1, entry["rows"])
    if name.startswith("embedding_gather") and "e4m3" not in name:
        h = num(r"_h(\d+)", name)
        vocab = 32000
        table = torch.randn(vocab, h, device=DEV, dtype=dt)
        sets = rotating(lambda: (torch.randint(0, vocab, (rows,), device=DEV),), rows * h * 2)
        return "F.embedding", time_us(lambda ids: F.embedding(ids, table), sets)
    if name.startswith("residual_add_rmsnorm") or name.startswith("rmsnorm"):
        if "_fp8" in name or "_last_rows" in name:
            return None
        h = num(r"_h(\d+)", name)
        w = torch.randn(h, device=DEV, dtype=dt)
        add = name.startswith("residual_add")
        sets = rotating(lambda: (torch.randn(rows, h, device=DEV, dtype=dt), torch.randn(rows, h, device=DEV, dtype=dt)), rows * h * 6)
        if add:
            return "x + d; F.rms_norm", time_us(lambda x, d: F.rms_norm(x + d, (h,), w, 1e-5), sets)
        return "F.rms_norm", time_us(lambda x, d: F.rms_norm(x, (h,), w, 1e-5), sets)
    if name.startswith("rope_"):
        heads, kv, d = num(r"_h(\d+)", name), num(r"_kv(\d+)", name), num(r"_d(\d+)", name)
        pos = torch.arange(rows, device=DEV, dtype=torch.float32)
        inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2, device=DEV, dtype=torch.float32) / d))
        freqs = torch.outer(pos, inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(dt)[:, None, :], emb.sin().to(dt)[:, None, :]

        def rot(x):
            x1, x2 = x[..., : d // 2], x[..., d // 2:]
            return torch.cat((-x2, x1), dim=-1)

        def rope(q, k):
            return q * cos + rot(q) * sin, k * cos + rot(k) * sin

        sets = rotating(lambda: (torch.randn(rows, heads, d, device=DEV, dtype=dt), torch.randn(rows, kv, d, device=DEV, dtype=dt)),
                        rows * (heads + kv) * d * 4)
        return "HF apply_rotary_pos_emb", time_us(rope, sets)
    if name.startswith("swiglu"):
        if "_fp8" in name:
            return None
        i = num(r"_i(\d+)", name)
        sets = rotating(lambda: (torch.randn(rows, 2 * i, device=DEV, dtype=dt),), rows * i * 6)
        return "F.silu(g) * u", time_us(lambda gu: F.silu(gu[:, :i]) * gu[:, i:], sets)
    if name.startswith("gemm_"):
        return gemm_peer(name, rows)
    if name.startswith("decode_attention_"):
        return decode_attention_peer(name, entry["case"])
    if name.startswith("prefill_attention_"):
        return prefill_attention_peer(name, entry["case"], dt)
    return None


def decode_attention_peer(name, case):
    """SDPA on a contiguous fp16 cache for a uniform decode batch (B sequences at context C, one query token each, GQA),
    with the K+V bytes it reads per second: the peer the paged decode kernel is measured against."""
    m = re.match(r"S=(\d+) context (\d+)\.\.(\d+)", case)
    if not m or m.group(2) != m.group(3):
        return None
    b, c = int(m.group(1)), int(m.group(2))
    heads, kv, d = num(r"_h(\d+)", name), num(r"_kv(\d+)", name), num(r"_d(\d+)", name)
    kv_bytes = 2 * b * kv * c * d * 2
    sets = rotating(lambda: (torch.randn(b, heads, 1, d, device=DEV, dtype=torch.float16),
                             torch.randn(b, kv, c, d, device=DEV, dtype=torch.float16),
                             torch.randn(b, kv, c, d, device=DEV, dtype=torch.float16)), kv_bytes)
    t = time_us(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), sets)
    return "SDPA fp16 contiguous", t, {"peer_kv_gb_per_s": kv_bytes / (t * 1e-6) / 1e9, **read_floor(kv_bytes // 2 if "_fp8" in name else kv_bytes)}


def read_floor(nbytes):
    """What one kernel that reads the paged kernel's KV bytes (its cache dtype's) once costs at this size, launch and DRAM
    latency included, against the copy bandwidth's large-copy rate: the fastest of torch.amax and torch.sum over fp32
    words and a device copy of half the bytes (the copy bandwidth's own path, the same traffic), copies rotated past L2;
    and the same three on 4 KB, the fixed cost of a launch in a CUDA graph."""
    def fastest(n):
        sets = rotating(lambda: (torch.randn(n // 4, device=DEV, dtype=torch.float32),), n)
        halves = rotating(lambda: (torch.empty(n // 2, device=DEV, dtype=torch.uint8), torch.empty(n // 2, device=DEV, dtype=torch.uint8)), n)
        return min(time_us(torch.amax, sets), time_us(torch.sum, sets), time_us(lambda a, b: b.copy_(a), halves))
    return {"read_floor_bytes": nbytes, "read_floor_us": fastest(nbytes), "launch_floor_us": fastest(4096)}


def prefill_attention_peer(name, case, dt):
    """Causal SDPA on whole prompts (B sequences of S new tokens, no prefix) under the flash and the cuDNN backend, with
    the TFLOP/s of graphc's count for the same work (2·d·heads·S·(S + 1)·B: Q·Kᵀ and P·V over the causal pairs). A
    backend that fails is recorded as its error; the main peer is flash, else cuDNN."""
    m = re.fullmatch(r"S=(\d+) new (\d+) prefix 0", case)
    if not m:
        return None
    b, s = int(m.group(1)), int(m.group(2))
    heads, kv, d = num(r"_h(\d+)", name), num(r"_kv(\d+)", name), num(r"_d(\d+)", name)
    flops = 2 * d * heads * s * (s + 1) * b
    sets = rotating(lambda: (torch.randn(b, heads, s, d, device=DEV, dtype=dt), torch.randn(b, kv, s, d, device=DEV, dtype=dt),
                             torch.randn(b, kv, s, d, device=DEV, dtype=dt)), b * s * (heads + 2 * kv) * d * 2)
    from torch.nn.attention import SDPBackend, sdpa_kernel
    extra = {}
    for label, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
        try:
            with sdpa_kernel(backend):
                t, extra[label + "_gqa"] = causal_sdpa_us(sets, heads // kv)
            extra[label + "_us"], extra[label + "_tflops"] = t, flops / (t * 1e-6) / 1e12
        except Exception as e:  # a backend the build or the shape lacks is reported, not fatal
            extra[label + "_error"] = str(e)[:200]
    for label, peer in (("flash", "SDPA flash"), ("cudnn", "SDPA cuDNN")):
        if label + "_us" in extra:
            return peer, extra[label + "_us"], extra
    print(f"{name} {case}: no SDPA backend ran: {extra}", file=sys.stderr)
    return None


def causal_sdpa_us(sets, group):
    """Median µs of causal SDPA under the backend in force, and how it saw GQA: "enable_gqa" where the backend takes the
    KV heads as they are, else "expanded" (K and V repeated to every query head beforehand, outside the timing)."""
    try:
        return time_us(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), sets), "enable_gqa"
    except Exception:
        expanded = [(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)) for q, k, v in sets]
        return time_us(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), expanded), "expanded"


_weights = {}


def gemm_weights(k, n):
    """fp16 W [N, K] and the same codes packed for torch._weight_int4pack_mm (g128), made once per shape."""
    if (k, n) not in _weights:
        w16 = torch.randn(n, k, device=DEV, dtype=torch.float16) / k ** 0.5
        wq = torch.randint(0, 16, (n, k), dtype=torch.int32, device=DEV).to(torch.uint8)
        packed = torch._convert_weight_to_int4pack(wq[:, 0::2] | (wq[:, 1::2] << 4), 8)
        sz = torch.randn(k // 128, n, 2, device=DEV, dtype=torch.bfloat16)
        _weights.clear()  # one shape at a time: 70B weights are large
        _weights[(k, n)] = (w16, packed, sz)
    return _weights[(k, n)]


def gemm_peer(name, m):
    """The GEMM sweep's peers: cuBLAS fp16 for every scheme, and the scheme's own PyTorch kernel where one exists
    (torch._weight_int4pack_mm g128 for INT4, torch._scaled_mm for FP8 at M >= 16)."""
    k, n = num(r"_k(\d+)", name), num(r"_n(\d+)", name)
    w16, packed, sz = gemm_weights(k, n)
    xs = rotating(lambda: (torch.randn(m, k, device=DEV, dtype=torch.float16),), m * k * 2)
    cublas = time_us(lambda x: x @ w16.t(), xs)
    extra = {"cublas_fp16_us": cublas}
    if "_gptq_" in name or "_awq_" in name:
        xb = [(x.to(torch.bfloat16),) for (x,) in xs]
        try:
            extra["int4pack_g128_us"] = time_us(lambda x: torch._weight_int4pack_mm(x, packed, 128, sz), xb)
        except Exception as e:
            extra["int4pack_error"] = str(e)[:200]
    if "_e4m3_" in name and m % 16 == 0:
        w8 = w16.to(torch.float8_e4m3fn)
        one = torch.ones((), device=DEV)
        x8 = [(x.to(torch.float8_e4m3fn),) for (x,) in xs]
        try:
            extra["scaled_mm_fp8_us"] = time_us(lambda x: torch._scaled_mm(x, w8.t(), scale_a=one, scale_b=one, out_dtype=torch.float16), x8)
        except Exception as e:
            extra["scaled_mm_error"] = str(e)[:200]
    if "int4pack_g128_us" in extra:
        return "int4pack g128", extra["int4pack_g128_us"], extra
    if "scaled_mm_fp8_us" in extra:
        return "scaled_mm FP8", extra["scaled_mm_fp8_us"], extra
    return "cuBLAS fp16", cublas, extra


def big_peers():
    out = {}
    # Copy bandwidth, counting bytes read and written.
    n = 1 << 30
    a, b = torch.empty(n, dtype=torch.uint8, device=DEV), torch.empty(n, dtype=torch.uint8, device=DEV)
    us = time_us(lambda: b.copy_(a), [()])
    out["copy_gb_per_s"] = 2 * n / (us * 1e-6) / 1e9
    del a, b
    # The tensor-core roofline: an 8192³ bf16 matmul.
    x, y = (torch.randn(8192, 8192, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    out["matmul_bf16_tflops"] = 2 * 8192 ** 3 / (time_us(lambda: x @ y, [()]) * 1e-6) / 1e12
    del x, y
    # Attention: Llama-2-70B heads, causal, batch 1.
    from torch.nn.attention import SDPBackend, sdpa_kernel
    out["sdpa"] = []
    for s in (1024, 2048, 4096, 8192):
        q = torch.randn(1, 64, s, 128, device=DEV, dtype=torch.bfloat16)
        k = torch.randn(1, 64, s, 128, device=DEV, dtype=torch.bfloat16)
        v = torch.randn(1, 64, s, 128, device=DEV, dtype=torch.bfloat16)
        flops = 2 * s * s * 128 * 64  # causal: half of 4·S²·d per head
        row = {"seq": s}
        for label, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    t = time_us(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), [()])
                row[label + "_tflops"] = flops / (t * 1e-6) / 1e12
            except Exception as e:  # a backend the build lacks is reported, not fatal
                row[label + "_error"] = str(e)[:200]
        out["sdpa"].append(row)
    # GEMMs at K=8192, N=28672 (the gate/up shape).
    K, N = 8192, 28672
    w16 = torch.randn(N, K, device=DEV, dtype=torch.float16)
    out["gemm"] = []
    for m in (1, 16, 256, 4096):
        x = torch.randn(m, K, device=DEV, dtype=torch.float16)
        row = {"m": m, "cublas_fp16_us": time_us(lambda: x @ w16.t(), [()])}
        try:
            wq = torch.randint(0, 16, (N, K), dtype=torch.int32, device=DEV)
            packed = torch._convert_weight_to_int4pack(wq.to(torch.uint8).reshape(N, K // 2, 2)[..., 0] | (wq.to(torch.uint8).reshape(N, K // 2, 2)[..., 1] << 4), 8)
            sz = torch.randn(K // 128, N, 2, device=DEV, dtype=torch.bfloat16)
            xb = x.to(torch.bfloat16)
            row["int4pack_g128_us"] = time_us(lambda: torch._weight_int4pack_mm(xb, packed, 128, sz), [()])
        except Exception as e:
            row["int4pack_error"] = str(e)[:200]
        if m >= 16:
            try:
                x8 = x.to(torch.float8_e4m3fn)
                w8 = w16.to(torch.float8_e4m3fn)
                one = torch.ones((), device=DEV)
                t = time_us(lambda: torch._scaled_mm(x8, w8.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16), [()])
                row["scaled_mm_fp8_us"] = t
                row["scaled_mm_fp8_tflops"] = 2 * m * K * N / (t * 1e-6) / 1e12
            except Exception as e:
                row["scaled_mm_error"] = str(e)[:200]
        out["gemm"].append(row)
    return out


def main():
    bench = json.load(open(sys.argv[1])) if len(sys.argv) > 1 else {"kernels": []}
    dt = dtype_of(bench)
    kernels = {}
    for entry in bench.get("kernels", []):
        peer = peer_for(entry, dt)
        if peer:
            kernels[entry["key"]] = {"peer": peer[0], "microseconds": peer[1], **(peer[2] if len(peer) > 2 else {})}
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "kernels": kernels}
    result.update(big_peers())
    result["timing"] = "CUDA graph replays, median per call"
    result["timed_eagerly"] = EAGER
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
