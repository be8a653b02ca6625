"""Does each of clearft's llama.cpp reproducibility settings still earn its place?

    python bench/llamacpp_repro_probe.py --rows 8 --variants clearft,flash-on,cb-on,both-on

For each variant, `LlamaCppBackend` (reproducible mode, 8 slots) is started with
`REPRODUCIBLE_SETTINGS` changed as named, and BSDetector's real requests for FPB rows
(preset medium: one request of k seeded samples and the letter-first reflection rounds with
top log-probabilities) are sent three ways: each request alone, all together, and all
together in reverse order. A setting is needed for reproducibility if, without it, a
request's result depends on what was sent beside it:

* samples: seeded sample texts equal to the same request's alone (of all samples);
* reflection: how many first-token log-probability lists are bit-identical to alone, the
  largest change of a letter's log-probability (A/B/C, nats), the largest and mean change of
  the renormalised P(letter) that the score reads, and how many verdicts (most likely
  letter) changed.

Prints a markdown table, one row per variant.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from clearft.backends.base import Completion, GenerateRequest
from clearft.data import open_dataset
from clearft.scoring import make_config, parsing, prompts
from clearft.scoring.bsdetector_method import TOP_LOGPROBS
from clearft.scoring.result import row_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import markdown_table  # noqa: E402  (bench/timing.py)

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
LETTERS = ("A", "B", "C")

# The change each variant makes to clearft's REPRODUCIBLE_SETTINGS.
VARIANTS: dict[str, dict[str, Any]] = {
    "clearft": {},
    "flash-on": {"flash_attn_type": -1},  # llama.cpp's default: auto (on, on CPU)
    "cb-on": {"cont_batching": True},  # llama.cpp's default, and clearft's since session 9
    "cb-off": {"cont_batching": False},  # clearft's default until session 9
    "both-on": {"flash_attn_type": -1, "cont_batching": True},
}


def bsdetector_requests(rows: int, preset: str) -> tuple[list[GenerateRequest], list[bool]]:
    """The requests BSDetector sends for `rows` FPB rows; the flags mark reflection requests."""
    examples = list(open_dataset(DATA / "robustft" / "fpb" / "noisy" / "noisy30.csv"))[:rows]
    config = make_config(preset, method="bsdetector")
    reqs: list[GenerateRequest] = []
    reflection: list[bool] = []
    for ex in examples:
        reqs.append(GenerateRequest(prompts.sample_messages(ex.messages), n=config.k, temperature=config.temperature,
                                    max_tokens=config.sample_max_tokens,
                                    seed=row_seed(config.seed, ex.id, "samples")))
        reflection.append(False)
        for r in range(config.rounds):
            reqs.append(GenerateRequest(
                prompts.reflection_messages(ex.prompt_text, ex.response, r, letter_first=True),
                temperature=0.0, max_tokens=max(1, config.reflection_explain_tokens),
                seed=row_seed(config.seed, ex.id, f"reflection{r}"),
                top_logprobs=TOP_LOGPROBS, assistant_prefix=prompts.ANSWER_PREFIX))
            reflection.append(True)
    return reqs, reflection


def letter_logprobs(c: Completion) -> dict[str, float]:
    first = (c.first_token_logprobs or [{}])[0]
    out: dict[str, float] = {}
    for token, lp in first.items():
        letter = token.strip()
        if letter in LETTERS and letter not in out:
            out[letter] = lp
    return out


def compare(alone: list[Completion], other: list[Completion], reflection: list[bool]) -> dict[str, float]:
    same = total = flips = identical = 0
    worst = worst_p = sum_p = 0.0
    for a, o, is_reflection in zip(alone, other, reflection, strict=True):
        if not is_reflection:
            total += len(a.texts)
            same += sum(x == y for x, y in zip(a.texts, o.texts, strict=False))
            continue
        identical += a.first_token_logprobs == o.first_token_logprobs
        la, lo = letter_logprobs(a), letter_logprobs(o)
        for letter in set(la) | set(lo):
            # a letter in one top list but not in the other: a move of unknown size
            if letter in la and letter in lo:
                worst = max(worst, abs(la[letter] - lo[letter]))
            else:
                worst = math.inf
        pa = parsing.choice_probabilities((a.first_token_logprobs or [{}])[0]) or {}
        po = parsing.choice_probabilities((o.first_token_logprobs or [{}])[0]) or {}
        moved = max((abs(pa[c] - po[c]) for c in LETTERS if c in pa and c in po), default=0.0)
        worst_p, sum_p = max(worst_p, moved), sum_p + moved
        if la and lo and max(la, key=la.__getitem__) != max(lo, key=lo.__getitem__):
            flips += 1
    return {"same": same, "total": total, "worst": worst, "flips": flips, "identical": identical,
            "worst_p": worst_p, "sum_p": sum_p}


def run_variant(name: str, reqs: list[GenerateRequest], reflection: list[bool], concurrency: int,
                threads: int | None) -> dict[str, Any]:
    from clearft.backends import llamacpp

    saved = dict(llamacpp.REPRODUCIBLE_SETTINGS)
    llamacpp.REPRODUCIBLE_SETTINGS.update(VARIANTS[name])
    try:
        backend = llamacpp.LlamaCppBackend(concurrency=concurrency, threads=threads, reproducible=True,
                                             reuse_prompts=False)
    finally:
        llamacpp.REPRODUCIBLE_SETTINGS.clear()
        llamacpp.REPRODUCIBLE_SETTINGS.update(saved)
    try:
        started = time.monotonic()
        alone = [backend.generate([r])[0] for r in reqs]
        together = backend.generate(reqs)
        reverse = list(reversed(backend.generate(list(reversed(reqs)))))
        seconds = time.monotonic() - started
    finally:
        backend.close()
    errors = [c.error for c in alone + together + reverse if c.error]
    if errors:
        raise SystemExit(f"{name}: {len(errors)} failed calls, first: {errors[0]}")
    fwd, rev = compare(alone, together, reflection), compare(alone, reverse, reflection)
    n = 2 * sum(reflection)
    return {
        "same": int(fwd["same"] + rev["same"]), "total": int(fwd["total"] + rev["total"]),
        "worst": max(fwd["worst"], rev["worst"]), "flips": int(fwd["flips"] + rev["flips"]),
        "identical": int(fwd["identical"] + rev["identical"]), "worst_p": max(fwd["worst_p"], rev["worst_p"]),
        "mean_p": (fwd["sum_p"] + rev["sum_p"]) / max(1, n), "reflections": n, "seconds": seconds,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=8, help="FPB rows whose BSDetector requests are sent")
    p.add_argument("--preset", default="medium")
    p.add_argument("--concurrency", type=int, default=8, help="slots (clearft's default is 8)")
    p.add_argument("--threads", type=int, default=None, help="ggml threads (default: clearft's default_threads)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"in order, of: {', '.join(VARIANTS)}")
    args = p.parse_args()

    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s): {', '.join(unknown)}")
    from clearft.backends.llamacpp import REPRODUCIBLE_SETTINGS, default_threads

    threads = args.threads or default_threads()
    reqs, reflection = bsdetector_requests(args.rows, args.preset)
    results = [(name, run_variant(name, reqs, reflection, args.concurrency, threads)) for name in names]

    print(f"{args.rows} FPB rows (preset {args.preset}): {len(reqs)} requests, {args.concurrency} slots, "
          f"{threads} threads; clearft's settings: {REPRODUCIBLE_SETTINGS}\n")
    print(markdown_table(
        ["variant", "settings changed", "seeded samples equal to alone (together + reversed)",
         "reflections bit-identical to alone", "letter log-prob, largest change (nats)",
         "P(letter) renormalised over A/B/C: largest / mean change", "verdicts changed", "seconds"],
        [[name, ", ".join(f"{k}={v}" for k, v in VARIANTS[name].items()) or "none", f"{r['same']}/{r['total']}",
          f"{r['identical']}/{r['reflections']}", f"{r['worst']:.4g}", f"{r['worst_p']:.4f} / {r['mean_p']:.4f}",
          f"{r['flips']}/{r['reflections']}", f"{r['seconds']:.0f}"] for name, r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
