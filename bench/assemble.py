"""Writes BENCHMARKS.md from the per-area result files in bench/results/ (each written by the
benchmark scripts' authors beside the command that produced it)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["scoring", "crossfit", "loop", "loop_crossfit", "loop_crossfit_default", "correct", "loop_evidence", "loop_evidence_vote", "loop_evidence_veto",
         "backends", "data", "training", "faults", "ray", "report"]

HEADER = """# Benchmarks and quality measurements

Every number below comes from running the command printed beside it, on the machine named
with it — a 2-core CPU sandbox (24 GiB, no GPU, Python 3.11). Session 1's numbers were
mostly measured while several other jobs shared those 2 cores (load average 10-28): absolute
times are then pessimistic and noisy, and only ratios measured inside one run mean anything;
session 2 (the FPB loop, scoring speed, cross-fit FPB-50) and session 3 (the preset sweep,
every method on GSM8K/ARC/FPB, cross-fit ARC-30 and banking77-20, the loop with cross-fitted
scoring, the scoring-speed ceiling) and session 4 (cross-fit with the embedding part on
every dataset, FPB-30 at 800 rows, the loop rerun after a call-cache fix) ran one benchmark
at a time on a quiet machine; session 6 (Auto-Correct) ran one or two at a time. Each
section says which. Quality numbers (AUROC, accuracy) come from the real data in `../shared/data/`,
with the clean labels used only to measure. Regenerate this file with
`python bench/assemble.py` after rerunning a benchmark.

Sections: """


def demote(markdown: str) -> str:
    """Headings one level down (outside code fences), so each file becomes a section."""
    out, in_code = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        out.append("#" + line if line.startswith("#") and not in_code else line)
    return "\n".join(out)


def main() -> None:
    parts = [p for p in (ROOT / "bench" / "results" / f"{n}.md" for n in ORDER) if p.is_file()]
    body = []
    for p in parts:
        text = p.read_text(encoding="utf-8").strip()
        body.append(demote(text) + f"\n\n<sub>source: bench/results/{p.name}</sub>\n")
    header = HEADER + ", ".join(p.stem for p in parts) + ".\n\n"
    (ROOT / "BENCHMARKS.md").write_text(header + "\n".join(body), encoding="utf-8")


if __name__ == "__main__":
    main()
