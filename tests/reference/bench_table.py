#!/usr/bin/env python3
"""Joins `graphc bench --json` with peer_bench.py's output into one markdown table: time, GB/s, % of copy bandwidth,
TFLOP/s, the reference check, and the ratio to each PyTorch peer measured in the same run.

Usage: bench_table.py BENCH_JSON PEER_JSON
"""
import json
import sys


def main():
    bench = json.load(open(sys.argv[1]))
    peers = json.load(open(sys.argv[2])).get("kernels", {})
    copy = bench["copy_bytes_per_second"] / 1e9
    print(f"{bench['device']} ({bench['arch']}), copy bandwidth {copy:.0f} GB/s\n")
    print("| kernel | case | µs | GB/s | % copy | TFLOP/s | check | cuBLAS fp16 µs | ×cuBLAS | peer | peer µs | ×peer |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|")
    for k in bench["kernels"]:
        p = peers.get(k["key"], {})
        us = k["median_us"]
        check = "" if "check_passed" not in k else ("pass" if k["check_passed"] else "FAIL") + f" {k.get('check_relative_error', float('nan')):.1e}"
        cublas = p.get("cublas_fp16_us")
        peer_us = p.get("microseconds")
        print(f"| {k['kernel']} | {k['case']} | {us:.1f} | {k['gb_per_s']:.0f} | {100 * k['roofline_fraction']:.0f}% | "
              f"{k.get('tflops', 0):.1f} | {check} | {'' if cublas is None else f'{cublas:.1f}'} | "
              f"{'' if cublas is None else f'{cublas / us:.2f}'} | {p.get('peer', '')} | {'' if peer_us is None else f'{peer_us:.1f}'} | "
              f"{'' if peer_us is None else f'{peer_us / us:.2f}'} |")


if __name__ == "__main__":
    main()
