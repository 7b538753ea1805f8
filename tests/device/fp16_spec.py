"""Llama-2-70B in fp16: specs/llama2-70b.yaml without its quantization overrides, with an fp16 KV cache.
Usage: python3 tests/device/fp16_spec.py OUT.yaml"""
import re, sys

s = open("specs/llama2-70b.yaml").read().replace("name: llama2-70b", "name: llama2-70b-fp16", 1)
s = re.sub(r"  overrides:\n(.*\n)*?(?=\nkv_cache:)", "", s)
s = s.replace("  dtype: fp8_e4m3              # half the bytes of fp16 per token", "  dtype: fp16").replace("  scale: per_layer\n", "")
open(sys.argv[1], "w").write(s)
