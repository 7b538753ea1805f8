#!/usr/bin/env bash
# Session 18, call 3 (issue #5): per-CTA phase stamps (temporary build, GC_DECODE_STAMPS) of the wide twin at 16 x 2048
# (2 splits, 1 split, 256 x 8 warps) and 1 x 4096, and of the 4-warp kernel at 16 x 2048.
R=$OUT; export OUT=/tmp/w15; rm -rf /tmp/w15
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
sed -E "/decode_attention_wide: /d" specs/llama2-70b.yaml > "$out/narrow.yaml"
sed -E "s/(decode_attention_wide: \{[^}]*splits: )0/\11/" specs/llama2-70b.yaml > "$out/wide-1split.yaml"
sed -E "s/(decode_attention_wide: )\{[^}]*\}/\1{ block_n: 256, warps: 8, stages: 2, splits: 0 }/" specs/llama2-70b.yaml > "$out/wide256.yaml"
st() {  # st LABEL SPEC POINT WARPS
  GC_DECODE_STAMPS=150 $G bench $2 --attention-points $3 > "$out/st-$1.out" 2> "$out/st-$1.err"
  { echo "== $1 ($2 at $3)"; grep -E "decode_attention.*S=" "$out/st-$1.out" | head -2; python3 .device/stamps3.py "$out/st-$1.out" $4; } >> "$out/stamps.txt" 2>&1
}
st wide-16x2048 llama2-70b 16x2048 8; st wide-1x4096 llama2-70b 1x4096 8; mark wide 0
st wide-1split-16x2048 "$out/wide-1split.yaml" 16x2048 8; st wide256-16x2048 "$out/wide256.yaml" 16x2048 8; mark variants 0
st narrow-16x2048 "$out/narrow.yaml" 16x2048 4; mark narrow 0
mark done 0
