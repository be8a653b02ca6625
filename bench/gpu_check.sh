#!/usr/bin/env bash
# The GPU check of the transformers path (issue 15), prepared to fit a few minutes of a lent GPU
# machine: the embedded model through `clearft score/finetune/eval --backend transformers` on
# the bundled BANKING77 slice, beside plain `model.generate` on the same model and prompts.
#   GGUF=path/to/SmolLM2-135M-Instruct.Q4_1.gguf OUT=out bash bench/gpu_check.sh
# Each stage logs to $OUT/<stage>.log with its wall time; a failed stage does not stop the rest.
# ROWS/EPOCHS shrink it for a dry run on a CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}; ROWS=${ROWS:-400}; EPOCHS=${EPOCHS:-1}; DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}; WORK=${WORK:-/tmp/clearft_gpu}; LIMIT=${LIMIT:-600}  # seconds a stage may run
BATCHES=${BATCHES:-1,64}; EVAL_ROWS=${EVAL_ROWS:-120}
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
clearft() { "$PY" -c 'import sys; from clearft.cli.main import entry; sys.argv[0] = "clearft"; entry()' "$@"; }
stage() {  # stage NAME COMMAND...: time it, keep its log, go on whatever it returns
    local name=$1; shift
    local t0=$SECONDS
    timeout "$LIMIT" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: rc=$rc wall=$((SECONDS - t0))s" | tee -a "$OUT/stages.txt"
    tail -n 5 "$OUT/$name.log"
}
head -n "$ROWS" examples/data/banking77_noisy.jsonl >"$WORK/train.jsonl"
export -f clearft; export PY
stage env bash -c "nvidia-smi -L; $PY -c 'import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.is_available())'"
stage yardstick "$PY" bench/hf_generate_speed.py "$WORK/train.jsonl" --model "$GGUF" --device "$DEVICE" \
    --rows "$ROWS" --batch-sizes "$BATCHES" --max-new-tokens 64 --clearft-samples 5 --clearft-rows $((ROWS / 2))
stage score bash -c 'clearft "$@"' _ score "$WORK/train.jsonl" -o "$OUT/scores.jsonl" --backend transformers --model "$GGUF" \
    --method bsdetector --preset medium --similarity exact --batch-size 64 --seed 0 --cache off --no-progress
stage finetune bash -c 'clearft "$@"' _ finetune "$WORK/train.jsonl" -o "$WORK/ft" --model "$GGUF" --epochs "$EPOCHS" \
    --device "$DEVICE" --no-progress
stage eval bash -c 'clearft "$@"' _ eval "$WORK/ft" "$GGUF" --backend transformers --limit "$EVAL_ROWS" \
    --test examples/data/banking77_test.jsonl \
    --json "$OUT/eval.json" --cache off --no-progress
exit 0
