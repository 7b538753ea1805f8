#!/usr/bin/env bash
# Session 22, call 3 (issue #5): the wide twin's tiles again (block_n × warps × stages), FP8 and fp16, same call
R=$OUT; export OUT=/tmp/w3; rm -rf /tmp/w3
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
P=1x4096,8x2048,16x2048,32x2048
variant() {   # SPEC BLOCK_N WARPS STAGES: the spec with its sm_90 wide twin's tiles replaced
  sed -E "s/decode_attention_wide: \{ block_n: [0-9]+, warps: [0-9]+, stages: [0-9]+/decode_attention_wide: { block_n: $2, warps: $3, stages: $4/" specs/$1.yaml > "$out/$1-$2x$3x$4.yaml"
  grep -q "block_n: $2, warps: $3, stages: $4" "$out/$1-$2x$3x$4.yaml" || echo "variant $1 $2 $3 $4 not written"
  echo "$out/$1-$2x$3x$4.yaml"
}
for r in 1 2; do
  for spec in llama2-70b llama2-70b-gptq; do
    vs=("128 8 3"); [ $spec = llama2-70b ] && vs=("128 8 3" "128 8 4" "256 8 2" "256 8 3" "256 16 2" "256 16 3")   # fp16 fits only the first (8-token steps)
    for v in "${vs[@]}"; do
      set -- $v; f=$(variant $spec $1 $2 $3)
      ab_lines "$spec-$1x$2x$3" "$f" --attention-points $P
    done; mark "sweep $r $spec" $?
  done
done
cat "$out/ab.txt"; mark done 0
