#!/usr/bin/env python3
"""Trains the small Llama the repository ships (specs/small-llama.yaml) on the GPU machine.

Usage: train_small.py CORPUS.txt OUT_DIR [--minutes 6]
  CORPUS.txt: tests/reference/make_corpus.py's output (the English paragraphs of the Debian Administrator's Handbook,
  package debian-handbook, GPL-2.0+ or CC-BY-SA-3.0).
Writes OUT_DIR/{model.safetensors, config.json, tokenizer.model, train_report.json}: a SentencePiece BPE tokenizer
(4096 pieces, byte fallback, Llama's settings) and a 6-layer Llama (hidden 256, 4 query / 2 KV heads of 64, MLP 768,
tied embeddings) trained with AdamW on 95% of the paragraphs; the weights of the step with the lowest held-out loss are
saved in fp16. The report records the held-out perplexity and samples.
"""
import argparse
import json
import math
import pathlib
import random
import time

import sentencepiece as spm
import torch
from transformers import LlamaConfig, LlamaForCausalLM

SEQ, BATCH, VOCAB = 256, 64, 4096


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=6.0)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    random.seed(0)

    paragraphs = [p for p in pathlib.Path(args.corpus).read_text(encoding="utf-8").splitlines() if p.strip()]
    random.shuffle(paragraphs)
    split = int(len(paragraphs) * 0.95)
    train_text, held_text = paragraphs[:split], paragraphs[split:]
    (out / "train.txt").write_text("\n".join(train_text), encoding="utf-8")

    spm.SentencePieceTrainer.train(
        input=str(out / "train.txt"), model_prefix=str(out / "tokenizer"), vocab_size=VOCAB, model_type="bpe",
        character_coverage=1.0, byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        max_sentence_length=16384, num_threads=16)
    (out / "train.txt").unlink()
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))

    def ids(texts):
        flat = []
        for t in texts:
            flat.append(1)
            flat.extend(sp.encode(t))
            flat.append(2)
        return torch.tensor(flat, dtype=torch.long)

    train_ids, held_ids = ids(train_text), ids(held_text)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=256, intermediate_size=768, num_hidden_layers=6,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, rms_norm_eps=1e-5,
                         rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                         hidden_act="silu", attention_bias=False, mlp_bias=False)
    model = LlamaForCausalLM(config).cuda()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)

    def batch(data):
        starts = torch.randint(0, len(data) - SEQ - 1, (BATCH,))
        x = torch.stack([data[s:s + SEQ] for s in starts]).cuda()
        return x

    @torch.no_grad()
    def held_loss():
        model.eval()
        total, count = 0.0, 0
        for s in range(0, len(held_ids) - SEQ - 1, SEQ):
            x = held_ids[s:s + SEQ].unsqueeze(0).cuda()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(input_ids=x, labels=x).loss
            total += loss.item()
            count += 1
        model.train()
        return total / max(1, count)

    deadline = time.time() + args.minutes * 60
    best, best_state, step, log = float("inf"), None, 0, []
    warmup, planned = 100, 4000
    while time.time() < deadline and step < planned:
        lr = 2e-3 * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / planned))))
        for g in opt.param_groups:
            g["lr"] = lr
        x = batch(train_ids)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            h = held_loss()
            log.append({"step": step, "train_loss": round(loss.item(), 4), "held_loss": round(h, 4), "held_ppl": round(math.exp(h), 2)})
            print(log[-1], flush=True)
            if h < best:
                best = h
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    model.load_state_dict(best_state)
    model = model.half()
    model.save_pretrained(out, safe_serialization=True)
    samples = []
    for prompt in ("The Debian project", "To install a package, the administrator", "A RAID volume"):
        x = torch.tensor([[1] + sp.encode(prompt)]).cuda()
        y = model.generate(x, max_new_tokens=48, do_sample=False, repetition_penalty=1.1)
        samples.append(sp.decode(y[0].tolist()[1:]))
        print(samples[-1], flush=True)
    report = {
        "corpus": "debian-handbook (GPL-2.0+ or CC-BY-SA-3.0), English paragraphs via tests/reference/make_corpus.py",
        "paragraphs": {"train": len(train_text), "held_out": len(held_text)},
        "tokens": {"train": len(train_ids), "held_out": len(held_ids)},
        "parameters": params, "steps": step, "seq_len": SEQ, "batch": BATCH,
        "best_held_out_loss": round(best, 4), "best_held_out_perplexity": round(math.exp(best), 2),
        "log": log, "greedy_samples": samples, "torch": torch.__version__,
    }
    (out / "train_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("parameters", "steps", "best_held_out_perplexity")}))


if __name__ == "__main__":
    main()
