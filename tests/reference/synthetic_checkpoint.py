#!/usr/bin/env python3
"""Writes a random fp16 Llama checkpoint of the given shape, sharded as transformers does (model-0000N-of-0000M.safetensors
plus model.safetensors.index.json), to measure how fast graphc streams real-sized weights to the GPU.

Usage: synthetic_checkpoint.py OUT_DIR HIDDEN INTERMEDIATE LAYERS HEADS KV_HEADS VOCAB [SHARD_GB]
  e.g. Llama-2-7B: synthetic_checkpoint.py /tmp/llama2-7b 4096 11008 32 32 32 32000
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import save_file


def main():
    out = pathlib.Path(sys.argv[1])
    hidden, inter, layers, heads, kv, vocab = (int(x) for x in sys.argv[2:8])
    shard_bytes = int(float(sys.argv[8]) * 1e9) if len(sys.argv) > 8 else 5_000_000_000
    out.mkdir(parents=True, exist_ok=True)
    d = hidden // heads
    shapes = [("model.embed_tokens.weight", (vocab, hidden))]
    for l in range(layers):
        p = f"model.layers.{l}."
        shapes += [(p + "input_layernorm.weight", (hidden,)),
                   (p + "self_attn.q_proj.weight", (heads * d, hidden)), (p + "self_attn.k_proj.weight", (kv * d, hidden)),
                   (p + "self_attn.v_proj.weight", (kv * d, hidden)), (p + "self_attn.o_proj.weight", (hidden, heads * d)),
                   (p + "mlp.gate_proj.weight", (inter, hidden)), (p + "mlp.up_proj.weight", (inter, hidden)),
                   (p + "mlp.down_proj.weight", (hidden, inter)), (p + "post_attention_layernorm.weight", (hidden,))]
    shapes += [("model.norm.weight", (hidden,)), ("lm_head.weight", (vocab, hidden))]
    shards, current, size = [], {}, 0
    for name, shape in shapes:
        t = (torch.randn(shape, device="cuda", dtype=torch.float16) * 0.02).cpu()
        if current and size + t.numel() * 2 > shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = t
        size += t.numel() * 2
    shards.append(current)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out / file), metadata={"format": "pt"})
        for name, t in shard.items():
            weight_map[name] = file
            total += t.numel() * 2
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    print(f"{out}: {len(shapes)} tensors, {total / 1e9:.2f} GB in {len(shards)} shards")


if __name__ == "__main__":
    main()
