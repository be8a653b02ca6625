#!/usr/bin/env bash
# Does today's code reproduce a finished FPB loop's curation (bench/fpb_loop.py), file for file?
# Keeps the old run's filtered model (its fine-tune is the expensive part, and its input,
# kept.csv, is compared too), drops every other stage and the call cache, reruns with today's
# code until the corrected training set is written, stops before the second fine-tune, and
# compares every curation file with the old run's. Identical files mean the second fine-tune
# gets the same input, so the loop's accuracies stand for today's code.
#
#   bash bench/reproduce_loop_curation.sh runs/fpb_loop400_ev3 /tmp/repro \
#       --train-rows 400 --test-rows 150 --epochs 2 --judge-explain-tokens 48 --no-baselines
#
# (the old run's own bench/fpb_loop.py arguments after the two folders)
#
# With FINISH=1 it does not stop there: the run goes on to the second fine-tune and the
# evaluations (the corrected model's accuracy, (d), in $NEW/loop.md), which is how a change of
# the corrector is measured on the same filtered model; the files are compared all the same.
# LABEL_MODEL=encoder (with FINISH=1) measures that label model instead of the default.
set -u
cd "$(dirname "$0")/.."
OLD=$1; NEW=$2; shift 2
W=$NEW/work
rm -rf "$W"; mkdir -p "$W/run"
cp "$OLD"/*.csv "$W/"
cp -r "$OLD/run/model_filtered" "$W/run/"
OLD="$OLD" W="$W" FINISH="${FINISH:-0}" LABEL_MODEL="${LABEL_MODEL:-}" .venv/bin/python - <<'PY'
import json, os
old, new = os.environ["OLD"].rstrip("/"), os.environ["W"]
s = json.load(open(f"{old}/run/state.json"))
s["stages"] = {k: v for k, v in s["stages"].items() if k == "finetune_filtered"}
if os.environ.get("FINISH") == "1":  # the corrector measured is today's default
    from clearft.correction import CorrectConfig
    extra = {"label_model": os.environ["LABEL_MODEL"]} if os.environ.get("LABEL_MODEL") else {}
    s["settings"]["correct"] = CorrectConfig(explain_max_tokens=s["settings"]["correct"]["explain_max_tokens"], **extra).to_dict()
text = json.dumps(s, indent=1).replace(os.path.abspath(old), new).replace(old, new)
open(f"{new}/run/state.json", "w").write(text)
PY
.venv/bin/python bench/fpb_loop.py --work "$W" --out "$NEW/loop.md" ${LABEL_MODEL:+--label-model "$LABEL_MODEL"} "$@" > "$NEW/log" 2>&1 &
PID=$!
while kill -0 $PID 2>/dev/null; do
  if grep -q "\[finetune_filtered\] running" "$NEW/log"; then
    echo "the run would fine-tune again (its settings changed): stopped"; kill $PID; exit 1
  fi
  if [ "${FINISH:-0}" != 1 ] && grep -q "\[train_corrected\] finished" "$NEW/log"; then kill $PID; break; fi
  sleep 3
done
wait $PID 2>/dev/null
grep "\] \(running\|finished\|done already\)" "$NEW/log" | grep -v finetune_corrected
status=0
for f in scored.csv kept.csv dropped.csv to_correct.csv candidates.csv corrected.csv uncorrected.csv train_corrected.csv; do
  if cmp -s "$OLD/run/$f" "$W/run/$f"; then echo "$f identical"; else echo "$f DIFFERS"; status=1; fi
done
exit $status
