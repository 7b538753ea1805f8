#!/usr/bin/env python3
"""End-to-end parity of graphc's GPU backend with Hugging Face transformers and with graphc's CPU backend (issue #8).

Usage: parity.py GRAPHC OUT_DIR [--steps 64] [--skip-70b]

Two models, each run by `graphc run --backend gpu --logits-out` (greedy, `--steps` tokens):
  small:  the repository's small Llama (tests/fixtures/small-llama, fp16) on a fixed prompt; also `--backend cpu`.
  l70x2:  a random-weight model with Llama-2-70B's layer shapes (hidden 8192, 64 query / 8 KV heads, intermediate
          28672, vocabulary 32000) but 2 layers, fp16, saved by transformers' save_pretrained, with a spec written here.
transformers' LlamaForCausalLM (fp16, SDPA attention, on the GPU) reads the same safetensors and
  1. scores graphc's token sequence teacher-forced, so every step's logits are compared on the same context: relative
     L2 error and max |difference| / max |reference| per step, worst step reported;
  2. generates greedily from the prompt; the tokens must equal graphc's (the small model: all of them; the random one is
     reported, its near-tied logits may legitimately flip).
Pass: GPU vs HF relative L2 ≤ 1e-2 at every step on both models, GPU vs CPU ≤ 1e-2, identical greedy tokens on the
small model. Writes OUT_DIR/parity.json and prints a table; exits 1 on failure.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

REL_L2_TOLERANCE = 1e-2
SMALL = "tests/fixtures/small-llama"
SMALL_PROMPT = [1, 331, 401, 845, 338, 263, 731, 683]   # BOS and ids of the small 4096-token vocabulary


def graphc_run(graphc, spec, model, prompt, steps, backend, out):
    cmd = [graphc, "run", spec, "--model", model, "--prompt-tokens", ",".join(map(str, prompt)), "--steps", str(steps),
           "--backend", backend, "--logits-out", out]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    with open(out + ".json") as f:
        meta = json.load(f)
    logits = np.fromfile(out, dtype=np.float32).reshape(-1, meta["vocab"])
    return meta, logits, result.stdout


def hf_model(path):
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(path, torch_dtype=torch.float16, attn_implementation="sdpa").cuda().eval()


@torch.no_grad()
def hf_teacher_forced(model, prompt, generated):
    """Logits at the positions graphc produced them: the prompt's last token, then each fed-back generated token."""
    ids = torch.tensor([prompt + generated[:-1]], device="cuda")
    logits = model(ids).logits[0].float().cpu().numpy()
    return logits[len(prompt) - 1:]


@torch.no_grad()
def hf_greedy(model, prompt, steps):
    out = model.generate(torch.tensor([prompt], device="cuda"), do_sample=False, max_new_tokens=steps, min_new_tokens=steps,
                         temperature=None, top_p=None, top_k=None, eos_token_id=None, pad_token_id=0)
    return out[0, len(prompt):].tolist()


def compare(a, b):
    """Per step: relative L2 error of a against b, and max |a − b| / max |b|; the worst of each."""
    rel = [float(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)) for x, y in zip(a, b)]
    peak = [float(np.abs(x - y).max() / max(np.abs(y).max(), 1e-30)) for x, y in zip(a, b)]
    return {"steps": len(rel), "rel_l2_max": max(rel), "rel_l2_mean": float(np.mean(rel)), "max_abs_over_max": max(peak)}


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def write_random_70b_layers(folder, layers=2, seed=0):
    """Random fp16 weights with Llama-2-70B's layer shapes, and the graphc spec for them."""
    from transformers import LlamaConfig, LlamaForCausalLM
    os.makedirs(folder, exist_ok=True)
    config = LlamaConfig(hidden_size=8192, intermediate_size=28672, num_hidden_layers=layers, num_attention_heads=64,
                         num_key_value_heads=8, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5,
                         rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, torch_dtype="float16")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float16)
    # Norm weights near 1 rather than exactly 1, so a norm applied with the wrong weight shows.
    for name, p in model.named_parameters():
        if "norm" in name:
            p.data = (1 + 0.1 * torch.randn_like(p.float())).to(torch.float16)
    model.save_pretrained(folder, safe_serialization=True)
    spec = os.path.join(folder, "llama2-70b-2layers.yaml")
    with open(spec, "w") as f:
        f.write(f"""name: llama2-70b-{layers}layers
model:
  architecture: llama
  dtype: fp16
  hidden_size: 8192
  intermediate_size: 28672
  num_hidden_layers: {layers}
  num_attention_heads: 64
  num_key_value_heads: 8
  vocab_size: 32000
  rope_theta: 10000.0
  rms_norm_eps: 1.0e-5
  max_position_embeddings: 4096
  tie_word_embeddings: false
quantization:
  default: fp16
kv_cache:
  dtype: fp16
  block_size: 16
limits:
  max_seq_len: 1024
  max_num_seqs: 8
  max_num_batched_tokens: 1024
""")
    return spec


def main():
    graphc, out = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 64
    os.makedirs(out, exist_ok=True)
    report, ok = {}, True

    # ---- The small model: GPU and CPU backends against transformers ----
    gpu_meta, gpu, gpu_log = graphc_run(graphc, "small-llama", SMALL, SMALL_PROMPT, steps, "gpu", f"{out}/small-gpu.f32")
    cpu_meta, cpu, _ = graphc_run(graphc, "small-llama", SMALL, SMALL_PROMPT, steps, "cpu", f"{out}/small-cpu.f32")
    model = hf_model(SMALL)
    greedy = hf_greedy(model, SMALL_PROMPT, steps)
    small = {
        "backend": gpu_meta["backend"],
        "gpu_vs_hf": compare(gpu, hf_teacher_forced(model, SMALL_PROMPT, gpu_meta["generated"])),
        "cpu_vs_hf": compare(cpu, hf_teacher_forced(model, SMALL_PROMPT, cpu_meta["generated"])),
        "gpu_vs_cpu": compare(gpu, cpu) if gpu_meta["generated"] == cpu_meta["generated"] else None,
        "greedy_gpu": gpu_meta["generated"], "greedy_cpu": cpu_meta["generated"], "greedy_hf": greedy,
        "first_difference_gpu_hf": first_difference(gpu_meta["generated"], greedy),
        "first_difference_gpu_cpu": first_difference(gpu_meta["generated"], cpu_meta["generated"]),
        "graphc_output": gpu_log.strip().splitlines()[-1],
    }
    small["passed"] = (small["gpu_vs_hf"]["rel_l2_max"] <= REL_L2_TOLERANCE and small["first_difference_gpu_hf"] is None
                       and small["gpu_vs_cpu"] is not None and small["gpu_vs_cpu"]["rel_l2_max"] <= REL_L2_TOLERANCE)
    del model
    report["small"] = small
    ok &= small["passed"]

    # ---- Llama-2-70B layer shapes, 2 random layers ----
    if "--skip-70b" not in sys.argv:
        folder = os.environ.get("PARITY_70B_DIR", "/tmp/graphc-parity-l70x2")
        spec = write_random_70b_layers(folder)
        prompt = [1] + list(np.random.default_rng(7).integers(3, 32000, 31))
        prompt = [int(x) for x in prompt]
        meta, logits, log = graphc_run(graphc, spec, folder, prompt, steps, "gpu", f"{out}/l70x2-gpu.f32")
        model = hf_model(folder)
        big = {
            "backend": meta["backend"],
            "gpu_vs_hf": compare(logits, hf_teacher_forced(model, prompt, meta["generated"])),
            "greedy_gpu": meta["generated"], "greedy_hf": hf_greedy(model, prompt, steps),
            "graphc_output": log.strip().splitlines()[-1],
        }
        big["first_difference_gpu_hf"] = first_difference(big["greedy_gpu"], big["greedy_hf"])
        big["passed"] = big["gpu_vs_hf"]["rel_l2_max"] <= REL_L2_TOLERANCE
        report["llama2_70b_shapes_2_layers"] = big
        ok &= big["passed"]

    report["tolerance_rel_l2"] = REL_L2_TOLERANCE
    report["torch"] = torch.__version__
    import transformers
    report["transformers"] = transformers.__version__
    report["gpu"] = torch.cuda.get_device_name()
    with open(f"{out}/parity.json", "w") as f:
        json.dump(report, f, indent=1)
    for name, r in report.items():
        if isinstance(r, dict):
            print(f"{name}: {'PASS' if r['passed'] else 'FAIL'}  " + "  ".join(
                f"{k} rel_l2_max={v['rel_l2_max']:.2e} max_abs/max={v['max_abs_over_max']:.2e}" for k, v in r.items()
                if isinstance(v, dict) and "rel_l2_max" in v) + f"  first greedy difference vs HF: {r['first_difference_gpu_hf']}")
            print("   ", r["graphc_output"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
