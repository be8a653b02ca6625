"""Writes BENCHMARKS.md: the hand-maintained current results (bench/results/current.md) and a
list of the per-area history files in bench/results/, each written by the benchmark scripts'
authors beside the command that produced it. The history is linked, not inlined."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CURRENT = "current"
# History files in reading order, with what each holds; any other .md in bench/results/ is
# listed after these.
HISTORY = {
    "scoring": "scoring methods and presets, Auto-Filter thresholds, scoring speed and its ceiling",
    "crossfit": "cross-fitted confidence (fold models), on FPB-30/50, BANKING77-20, ARC-30",
    "correct": "Auto-Correct: the pruned label model, the evidence judge's views and gate, GSM8K judges",
    "loop": "the whole CLEAR loop on FPB-30 with the paper's judge, baselines (a)-(e)",
    "loop_crossfit": "the loop with cross-fitted scoring (label-prob)",
    "loop_crossfit_default": "the loop with cross-fitted scoring (fold model + embedding)",
    "loop_evidence": "the loop with the evidence judge, one-pass classifier",
    "loop_evidence_vote": "the loop with the evidence judge, the model's answer as a vote",
    "loop_evidence_veto": "the loop with today's default corrector, the model's answer as a veto",
    "demo": "the README's main job (400 BANKING77 rows, 8 intents): its output, times, the noisy-data baseline",
    "backends": "generated tokens/s per backend, shared-prompt log-likelihoods",
    "data": "reading speed and memory per file type, noise injection",
    "training": "LoRA fine-tuning speed and memory",
    "faults": "kills, faulty servers, bad input, memory under load, a large cache",
    "ray": "the Ray engine: speed and equality with the local runner",
    "report": "the HTML report: build and open time with size, the FPB screenshot",
    "gpu": "the one GPU check (an H200): the transformers path beside plain generate; why vLLM could not run there",
}

HEADER = """# Benchmarks and quality measurements

What clearft measures, and how well it does, today. Every number comes from the command printed
beside it; the history of each area (every run, the machine and its load, what changed and
why) is in the file linked beside the number, under `bench/results/`. This file is generated:
edit `bench/results/current.md` (the tables below) or a history file, then run
`python bench/assemble.py`.

"""

MACHINES = """Each file holds every run of its area, with the command, the machine and what the numbers
show. The machine is a 2-core CPU sandbox (24 GiB, no GPU, Python 3.11). Session 1's numbers
were mostly measured while several other jobs shared those 2 cores (load average 10-28):
absolute times are then pessimistic and noisy, and only ratios measured inside one run mean
anything; session 2 (the FPB loop, scoring speed, cross-fit FPB-50) and session 3 (the preset
sweep, every method on GSM8K/ARC/FPB, cross-fit ARC-30 and banking77-20, the loop with
cross-fitted scoring, the scoring-speed ceiling) and session 4 (cross-fit with the embedding
part on every dataset, FPB-30 at 800 rows, the loop rerun after a call-cache fix) ran one
benchmark at a time on a quiet machine; session 6 (Auto-Correct) ran one or two at a time.
Each file says which. Quality numbers (AUROC, accuracy) come from the real data in
`../shared/data/`, with the clean labels used only to measure."""

_LOCAL_LINK = re.compile(r"\]\(([\w.-]+\.md)\)")


def demote(markdown: str) -> str:
    """Headings one level down (outside code fences)."""
    out, in_code = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        out.append("#" + line if line.startswith("#") and not in_code else line)
    return "\n".join(out)


def first_heading(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def render() -> str:
    current = (RESULTS / f"{CURRENT}.md").read_text(encoding="utf-8").strip()
    # current.md links its neighbours by bare name; from the repository root they live in bench/results/.
    current = _LOCAL_LINK.sub(r"](bench/results/\1)", current)
    names = [n for n in HISTORY if (RESULTS / f"{n}.md").is_file()]
    names += sorted(p.stem for p in RESULTS.glob("*.md") if p.stem not in HISTORY and p.stem != CURRENT)
    history = ["## History", "", MACHINES, ""]
    for n in names:
        what = HISTORY.get(n) or first_heading(RESULTS / f"{n}.md")
        history.append(f"- [bench/results/{n}.md](bench/results/{n}.md): {what}")
    return HEADER + demote(current) + "\n\n" + "\n".join(history) + "\n"


def main() -> None:
    (ROOT / "BENCHMARKS.md").write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
