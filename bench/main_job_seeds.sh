#!/usr/bin/env bash
# How much of the main job's accuracy is the fine-tune's seed? Retrains the two training sets a
# finished main job wrote (RUN/kept.jsonl: filtered; RUN/train_corrected.jsonl: curated) with
# other fine-tuning seeds, the run's own settings otherwise, and evaluates each on the test
# file. Prints one line per model; seed 0 is the run's own (RUN/eval_*.json).
#
#   bash bench/main_job_seeds.sh runs/demo runs/demo_seeds "1 2"
#
# FINETUNE_ARGS adds fine-tuning flags the run had beyond the defaults (e.g. "--group-by-length").
# SETS chooses the training sets, FILE:LABEL each, FILE relative to RUN unless it is a path that
# exists (default "kept.jsonl:filtered train_corrected.jsonl:corrected"); the main job's
# uncurated baseline is "examples/data/banking77_noisy.jsonl:full", the clean-label ceiling
# "examples/data/banking77_noisy.clean.jsonl:clean" (give it seed 0 too: the run never trains it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$1; OUT=$2; SEEDS=${3:-"1 2"}
TEST=examples/data/banking77_test.jsonl
SETS=${SETS:-kept.jsonl:filtered train_corrected.jsonl:corrected}
mkdir -p "$OUT"
for s in $SEEDS; do
  for set in $SETS; do
    file=${set%%:*}; label=${set##*:}
    [ -e "$file" ] || file="$RUN/$file"
    .venv/bin/clearft finetune "$file" -o "$OUT/model_${label}_seed$s" --seed "$s" --no-progress ${FINETUNE_ARGS:-}
    .venv/bin/clearft eval "$OUT/model_${label}_seed$s" --test "$TEST" --json "$OUT/eval_${label}_seed$s.json" --no-progress > /dev/null
  done
done
LABELS=$(for set in $SETS; do printf '%s,' "${set##*:}"; done)
.venv/bin/python - "$RUN" "$OUT" "$LABELS" $SEEDS <<'PY'
import json, os, statistics, sys
run, out, labels, seeds = sys.argv[1], sys.argv[2], sys.argv[3].strip(",").split(","), sys.argv[4:]
for label in labels:
    # the run's own model is seed 0 where the run trained this set (not the clean copy, say)
    own = ["0"] if "0" not in seeds and os.path.isfile(f"{run}/eval_{label}.json") else []
    accs = [json.load(open(f"{run}/eval_{label}.json"))["accuracy"] for _ in own]
    accs += [json.load(open(f"{out}/eval_{label}_seed{s}.json"))[0]["accuracy"] for s in seeds]  # eval --json: a list
    print(f"{label}: seeds {','.join(own + seeds)}: " + " ".join(f"{a:.3f}" for a in accs)
          + f"  mean {statistics.mean(accs):.3f}")
PY
