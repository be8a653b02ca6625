#!/usr/bin/env bash
# How much of the main job's accuracy is the fine-tune's seed? Retrains the two training sets a
# finished main job wrote (RUN/kept.jsonl: filtered; RUN/train_corrected.jsonl: curated) with
# other fine-tuning seeds, the run's own settings otherwise, and evaluates each on the test
# file. Prints one line per model; seed 0 is the run's own (RUN/eval_*.json).
#
#   bash bench/main_job_seeds.sh runs/demo runs/demo_seeds "1 2"
#
# FINETUNE_ARGS adds fine-tuning flags the run had beyond the defaults (e.g. "--group-by-length").
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$1; OUT=$2; SEEDS=${3:-"1 2"}
TEST=examples/data/banking77_test.jsonl
mkdir -p "$OUT"
for s in $SEEDS; do
  for set in kept:filtered train_corrected:corrected; do
    file=${set%%:*}; label=${set##*:}
    .venv/bin/clearft finetune "$RUN/$file.jsonl" -o "$OUT/model_${label}_seed$s" --seed "$s" --no-progress ${FINETUNE_ARGS:-}
    .venv/bin/clearft eval "$OUT/model_${label}_seed$s" --test "$TEST" --json "$OUT/eval_${label}_seed$s.json" --no-progress > /dev/null
  done
done
.venv/bin/python - "$RUN" "$OUT" $SEEDS <<'PY'
import json, statistics, sys
run, out, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
for label in ("filtered", "corrected"):
    accs = [json.load(open(f"{run}/eval_{label}.json"))["accuracy"]]
    accs += [json.load(open(f"{out}/eval_{label}_seed{s}.json"))[0]["accuracy"] for s in seeds]  # eval --json: a list
    print(f"{label}: seeds 0,{','.join(seeds)}: " + " ".join(f"{a:.3f}" for a in accs)
          + f"  mean {statistics.mean(accs):.3f}")
PY
