#!/usr/bin/env bash
# The main job (README): installs clearft, then curates the bundled real data — 400 BANKING77
# queries over 8 intents with 20% of their intent labels swapped — with the embedded
# SmolLM2-135M-Instruct: score, filter (the automatic cut), fine-tune, Auto-Correct, fine-tune
# again, and fine-tune on all the noisy rows as they are (the uncurated baseline); evaluate each
# model on 120 held-out queries, and write an HTML report. Every setting
# is in examples/main_job.yaml (flags after it would override it). Killed at any point,
# rerunning it resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${1:-runs/demo}
SECONDS=0
.venv/bin/clearft run --config examples/main_job.yaml -o "$OUT"
.venv/bin/clearft report "$OUT" -o "$OUT/report.html"
# Measure what the filter found and what Auto-Correct restored against the noise script's list
# of changed ids and the clean copy (neither is ever seen by the run).
.venv/bin/python bench/demo_check.py "$OUT" examples/data/banking77_noisy.changed.json examples/data/banking77_noisy.clean.jsonl
echo "report: $OUT/report.html"
echo "main job: ${SECONDS} s after the install"
