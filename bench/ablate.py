"""Why BSDetector wins or loses on a dataset: its parts and variants, re-scored from the
samples and reflections a `bench/detect.py --scores-dir DIR` run already saved (no model
calls). For each scores file: AUROC and precision at the noise rate of self-reflection alone,
of observed consistency with each similarity measure (embedding, token-F1, exact), comparing
either the sample's parsed answer (the paper) or its whole reply with the target, and of the
combined confidence for each.

    python bench/ablate.py runs/sweep/gsm8k-20.bsdetector.medium.jsonl --dataset gsm8k-20 --rows 60
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clearft.scoring import bsdetector, parsing  # noqa: E402
from clearft.scoring.similarity import get_similarity  # noqa: E402
from detect import DATASETS, auroc, precision_at  # noqa: E402  (bench/detect.py)


def consistency(rows: list[dict], targets: dict[str, str], sim_name: str, whole: bool, alpha: float) -> list[float | None]:
    """O per row, with the chosen similarity, comparing answers or whole replies."""
    sim = get_similarity(sim_name)
    pairs, owners, matches = [], [], []
    for i, r in enumerate(rows):
        target = targets[r["id"]]
        for s in r["clearft_evidence"].get("samples", []):
            if s.get("answer") is None:
                continue
            pairs.append((s["text"] if whole else s["answer"], target))
            owners.append(i)
            matches.append(parsing.final_answers_match(s["text"], target) if whole
                           else parsing.answers_match(s["answer"], target))
    sims = sim(pairs) if pairs else []
    per_row: list[tuple[list[float], list[bool]]] = [([], []) for _ in rows]
    for owner, s, m in zip(owners, sims, matches, strict=True):
        per_row[owner][0].append(s)
        per_row[owner][1].append(m)
    return [bsdetector.observed_consistency(s, m, alpha) for s, m in per_row]


def ablate(path: Path, targets: dict[str, str], args: argparse.Namespace) -> list[list[str]]:
    """Table rows (cells) for one scores file."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    noisy = [bool(r["noisy"]) for r in rows]
    rate = sum(noisy) / len(noisy)
    out: list[list[str]] = []

    def add(part: str, sim: str, compared: str, scores: list[float | None]) -> None:
        filled = [0.5 if s is None else s for s in scores]
        out.append([path.name, part, sim, compared, f"{auroc(filled, noisy):.3f}",
                    f"{precision_at(filled, noisy, rate):.3f}"])

    add("confidence as scored", "", "", [r["confidence"] for r in rows])
    reflection = [r.get("self_reflection") for r in rows]
    has_reflection = any(v is not None for v in reflection)
    if has_reflection:
        add("self-reflection", "", "", reflection)
    if not any(r["clearft_evidence"].get("samples") for r in rows):
        return out
    for sim in args.similarities.split(","):
        for whole in (False, True):
            o = consistency(rows, targets, sim, whole, args.alpha)
            compared = "whole reply" if whole else "answer"
            add("consistency", sim, compared, o)
            if has_reflection:
                add("combined (beta 0.7)", sim, compared,
                    [bsdetector.combine(a, b, args.beta) for a, b in zip(o, reflection, strict=True)])
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("scores", nargs="+")
    p.add_argument("--dataset", required=True)
    p.add_argument("--rows", type=int, required=True, help="the --rows of the detect.py run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=0.8)
    p.add_argument("--beta", type=float, default=0.7)
    p.add_argument("--similarities", default="embedding,token-f1,exact")
    args = p.parse_args()
    examples, _ = DATASETS[args.dataset](args.rows, args.seed)
    targets = {ex.id: ex.response for ex in examples}
    print("| scores | part | similarity | compared | AUROC | precision@noise |")
    print("|---|---|---|---|---|---|")
    for path in args.scores:
        for cells in ablate(Path(path), targets, args):
            print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
