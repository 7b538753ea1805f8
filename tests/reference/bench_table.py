#!/usr/bin/env python3
"""Joins `graphc bench --json` with peer_bench.py's output into markdown tables: time, GB/s, % of copy bandwidth,
TFLOP/s, the reference check, and the ratio to each PyTorch peer measured in the same run. Prefill attention has a table
of its own, in TFLOP/s against the bf16 matmul rate and SDPA's flash and cuDNN backends.

Usage: bench_table.py BENCH_JSON PEER_JSON
"""
import json
import sys


def check_text(k):
    return "" if "check_passed" not in k else ("pass" if k["check_passed"] else "FAIL") + f" {k.get('check_relative_error', float('nan')):.1e}"


def f(value, fmt):
    return "" if value is None else format(value, fmt)


def kernel_table(kernels, peers):
    print("| kernel | case | µs | GB/s | % copy | TFLOP/s | check | cuBLAS fp16 µs | ×cuBLAS | peer | peer µs | ×peer |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|")
    for k in kernels:
        p = peers.get(k["key"], {})
        us = k["median_us"]
        cublas = p.get("cublas_fp16_us")
        peer_us = p.get("microseconds")
        print(f"| {k['kernel']} | {k['case']} | {us:.1f} | {k['gb_per_s']:.0f} | {100 * k['roofline_fraction']:.0f}% | "
              f"{k.get('tflops', 0):.1f} | {check_text(k)} | {f(cublas, '.1f')} | "
              f"{f(cublas and cublas / us, '.2f')} | {p.get('peer', '')} | {f(peer_us, '.1f')} | "
              f"{f(peer_us and peer_us / us, '.2f')} |")


def read_floor_table(kernels, peers, copy):
    """Decode attention against the fastest plain read of the same KV bytes (peer_bench.read_floor): the share of the copy
    bandwidth a single kernel reading them reaches at that size, this kernel's time over that floor's, and a launch's
    fixed cost (the same reads of 4 KB)."""
    rows = [(k, peers[k["key"]]) for k in kernels if "read_floor_us" in peers.get(k["key"], {})]
    if not rows:
        return
    print("\n| kernel | case | µs | read floor µs (same bytes) | floor % copy | µs ÷ floor | 4 KB read µs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for k, p in rows:
        floor = p["read_floor_us"]
        print(f"| {k['kernel']} | {k['case']} | {k['median_us']:.1f} | {floor:.1f} | "
              f"{100 * p['read_floor_bytes'] / (floor * 1e-6) / (copy * 1e9):.0f}% | {k['median_us'] / floor:.2f} | {f(p.get('launch_floor_us'), '.1f')} |")


def prefill_table(kernels, peers, matmul):
    """×flash and ×cuDNN are the peer's time over ours (equally, our TFLOP/s over theirs): above 1, graphc is faster."""
    print(f"Prefill attention; bf16 matmul (8192³) {f(matmul, '.0f') or '?'} TFLOP/s\n")
    print("| kernel | case | µs | TFLOP/s | % matmul | SDPA flash TFLOP/s | ×flash | SDPA cuDNN TFLOP/s | ×cuDNN | check |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for k in kernels:
        p = peers.get(k["key"], {})
        tflops = k.get("tflops")
        cells = []
        for label in ("flash", "cudnn"):
            peer = p.get(label + "_tflops")
            cells += [f(peer, ".0f") or p.get(label + "_error", "")[:40].replace("|", "/"), f(peer and tflops and tflops / peer, ".2f")]
        print(f"| {k['kernel']} | {k['case']} | {k['median_us']:.1f} | {f(tflops, '.0f')} | {f(matmul and tflops and 100 * tflops / matmul, '.0f')}% | "
              f"{' | '.join(cells)} | {check_text(k)} |")


def main():
    bench = json.load(open(sys.argv[1]))
    peer = json.load(open(sys.argv[2]))
    peers = peer.get("kernels", {})
    copy = bench["copy_bytes_per_second"] / 1e9
    print(f"{bench['device']} ({bench['arch']}), copy bandwidth {copy:.0f} GB/s\n")
    prefill = [k for k in bench["kernels"] if k["kernel"].startswith("prefill_attention_")]
    others = [k for k in bench["kernels"] if k not in prefill]
    if others or not prefill:
        kernel_table(others, peers)
        read_floor_table(others, peers, copy)
    if prefill:
        if others:
            print()
        prefill_table(prefill, peers, peer.get("matmul_bf16_tflops"))


if __name__ == "__main__":
    main()
