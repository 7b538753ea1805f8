#!/usr/bin/env python3
"""Exports the trained small model in the three quantized checkpoint formats graphc loads, as loader fixtures, with
a PyTorch dequantization of layer 0 that graphc's own must match exactly.

Usage: export_quantized.py MODEL_DIR OUT_DIR
  MODEL_DIR: tests/fixtures/small-llama (fp16). Writes OUT_DIR/{gptq,awq,fp8}/{model.safetensors,config.json} and
  OUT_DIR/reference_dequant.safetensors ("<format>.<module name>" → the fp16 weight [N, K] dequantized here).

The reference quantizer (round to nearest, documented so the files can be rebuilt):
  gptq: group 128 along K, symmetric: scale = fp16(max|w| / 7), q = clamp(round(w / scale) + 8, 0, 15), zero 8; packed as
        AutoGPTQ v1: qweight int32 [K/8, N] (row 8i+j in bits 4j), qzeros int32 [K/128, N/8] holding (zero − 1) mod 16,
        scales fp16 [K/128, N], g_idx int32 [K] = k / 128.
  awq:  group 128, asymmetric: scale = fp16((max − min) / 15) (1 when 0), zero = clamp(round(−min / scale), 0, 15),
        q = clamp(round(w / scale) + zero, 0, 15); packed as AutoAWQ GEMM: qweight int32 [K, N/8] and qzeros int32
        [K/128, N/8], nibble j holding column 8c + [0, 2, 4, 6, 1, 3, 5, 7][j]; scales fp16 [K/128, N].
  fp8:  per output channel: scale = fp32(max|w| / 448), weight float8_e4m3fn = w / scale, weight_scale fp32 [N, 1].
Dequantization (the reference graphc must match bit for bit): fp16((q − z) · s) computed in fp32 (z = (nibble + 1) mod 16
for gptq), fp16(float(code) · scale) for fp8.
"""
import json
import pathlib
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

G = 128
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def groups(w):
    """w [N, K] → [N, K/G, G] float32."""
    n, k = w.shape
    return w.float().reshape(n, k // G, G)


def pack_rows(q):
    """q [K, N] ints 0..15 → int32 [K/8, N], row 8i+j in bits 4j."""
    k, n = q.shape
    q = q.to(torch.int64).reshape(k // 8, 8, n)
    word = torch.zeros(k // 8, n, dtype=torch.int64)
    for j in range(8):
        word |= q[:, j, :] << (4 * j)
    return (word - ((word >> 31) & 1) * (1 << 32)).to(torch.int32)   # as two's complement int32


def pack_columns(q, order):
    """q [R, N] ints 0..15 → int32 [R, N/8], nibble j holding column 8c + order[j]."""
    r, n = q.shape
    q = q.to(torch.int64).reshape(r, n // 8, 8)
    word = torch.zeros(r, n // 8, dtype=torch.int64)
    for j in range(8):
        word |= q[:, :, order[j]] << (4 * j)
    return (word - ((word >> 31) & 1) * (1 << 32)).to(torch.int32)


def gptq(w):
    g = groups(w)
    scale = (g.abs().amax(dim=2) / 7).clamp(min=1e-8).half().float()          # [N, K/G]
    q = (torch.round(g / scale[:, :, None]) + 8).clamp(0, 15)                   # [N, K/G, G]
    n, k = w.shape
    q = q.reshape(n, k).t().contiguous()                                        # [K, N]
    zeros = torch.full((k // G, n), 8)
    tensors = {"qweight": pack_rows(q), "qzeros": pack_columns((zeros - 1) % 16, list(range(8))),
               "scales": scale.t().contiguous().half(), "g_idx": (torch.arange(k) // G).to(torch.int32)}
    deq = ((q.t().reshape(n, k // G, G) - 8) * scale[:, :, None]).reshape(n, k).half()
    return tensors, deq


def awq(w):
    g = groups(w)
    lo, hi = g.amin(dim=2), g.amax(dim=2)
    scale = ((hi - lo) / 15).half().float()
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    zero = torch.round(-lo / scale).clamp(0, 15)
    q = (torch.round(g / scale[:, :, None]) + zero[:, :, None]).clamp(0, 15)
    n, k = w.shape
    deq = ((q - zero[:, :, None]) * scale[:, :, None]).reshape(n, k).half()
    q = q.reshape(n, k).t().contiguous()                                        # [K, N]
    tensors = {"qweight": pack_columns(q, AWQ_ORDER), "qzeros": pack_columns(zero.t().contiguous(), AWQ_ORDER),
               "scales": scale.t().contiguous().half()}
    return tensors, deq


def fp8(w):
    wf = w.float()
    scale = (wf.abs().amax(dim=1, keepdim=True) / 448).clamp(min=1e-12)        # [N, 1]
    codes = (wf / scale).to(torch.float8_e4m3fn)
    deq = (codes.float() * scale).half()
    return {"weight": codes, "weight_scale": scale.float()}, deq


FORMATS = {
    "gptq": (gptq, {"quant_method": "gptq", "bits": 4, "group_size": G, "desc_act": False, "sym": True, "checkpoint_format": "gptq"}),
    "awq": (awq, {"quant_method": "awq", "bits": 4, "group_size": G, "zero_point": True, "version": "gemm"}),
    "fp8": (fp8, {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": None}),
}


def main():
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    weights = load_file(str(src / "model.safetensors"))
    config = json.loads((src / "config.json").read_text())
    reference = {}
    for name, (quantize, qconfig) in FORMATS.items():
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for key, value in weights.items():
            module = key.split(".")[-2] if key.endswith(".weight") else ""
            if module in LINEAR:
                packed, deq = quantize(value)
                prefix = key[: -len("weight")]
                for suffix, t in packed.items():
                    tensors[prefix + suffix] = t.contiguous()
                if ".layers.0." in key:
                    reference[f"{name}.{key}"] = deq.contiguous()
            else:
                tensors[key] = value
        save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
        cfg = dict(config)
        cfg["quantization_config"] = {k: v for k, v in qconfig.items() if v is not None}
        (target / "config.json").write_text(json.dumps(cfg, indent=2))
        print(name, len(tensors), "tensors", (target / "model.safetensors").stat().st_size, "bytes")
    save_file(reference, str(out / "reference_dequant.safetensors"))


if __name__ == "__main__":
    main()
