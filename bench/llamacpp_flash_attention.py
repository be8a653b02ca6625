"""What flash attention would buy the llama.cpp backend, and why it stays off.

    python bench/llamacpp_flash_attention.py --rows 8

1. llama.cpp's own server (no clearft code), 16 slots: generated tokens/s with 1, 4 and 16
   sequences decoding at once (64 tokens each, end-of-text ignored), for llama.cpp's defaults
   (flash attention auto, which is on for this CPU build) and each of kv_unified / flash
   attention switched.
2. clearft's backend with flash attention on (REPRODUCIBLE_SETTINGS without
   ``flash_attn_type``), calls one at a time: is a call's sample i the same text alone as
   among 5 (n_cmpl), and does BSDetector (preset medium) score each row bit-identically with
   prompt reuse (rows in order and reversed) as afresh one call at a time? Seconds of each.
   Then the same with flash attention off (clearft's setting) for comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bsdetector_yardstick import fpb_mc, fpb_plain, gsm8k  # noqa: E402
from llamacpp_parity import Raw, raw_server  # noqa: E402
from llamacpp_prefix_reuse import score  # noqa: E402

SETTINGS: list[dict[str, Any]] = [{}, {"kv_unified": False}, {"kv_unified": True},
                                  {"kv_unified": False, "flash_attn_type": 0}, {"kv_unified": True, "flash_attn_type": 0}]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import clearft.backends.llamacpp_start as start
    from clearft.backends.base import GenerateRequest
    from clearft.backends.llamacpp import LlamaCppBackend
    from clearft.models import default_gguf_path
    from clearft.scoring import make_config
    from clearft.scoring.similarity import get_similarity

    print("| llama.cpp's own server, settings | generated tok/s, 1 / 4 / 16 sequences |\n|---|---|")
    for settings in SETTINGS:
        server = raw_server(default_gguf_path(), 16, args.threads, settings)
        raw = Raw(server, 16)
        raw.decode(2, 8, ignore_eos=True)  # warm-up
        rates = [raw.decode(n, 64, ignore_eos=True) for n in (1, 4, 16)]
        print(f"| {settings or 'defaults'} | {' / '.join(f'{r:.0f}' for r in rates)} |", flush=True)
        del server

    config = make_config("medium", method="bsdetector", batch_size=args.rows)
    similarity = get_similarity(config.similarity)
    similarity([("warm", "up")])
    kinds = {"fpb-mc": fpb_mc(args.rows), "fpb-plain": fpb_plain(args.rows), "gsm8k": gsm8k(args.rows)}
    flash_setting = start.REPRODUCIBLE_SETTINGS.pop("flash_attn_type")
    print("\n| flash attention | rows | afresh, one call at a time: s | reuse: s | reversed: s | "
          "rows bit-identical to afresh: reuse / reversed | largest confidence change |\n|---|---|---|---|---|---|---|")
    notes = []
    for flash in (True, False):
        if not flash:
            start.REPRODUCIBLE_SETTINGS["flash_attn_type"] = flash_setting
        backend = LlamaCppBackend(threads=args.threads, reuse_prompts=False, in_flight=1)
        try:
            messages = [{"role": "user", "content": "Write a short poem about the sea."}]
            five = backend.generate([GenerateRequest(messages, n=5, temperature=1.0, max_tokens=48, seed=7)])[0].texts
            alone = [backend.generate([GenerateRequest(messages, temperature=1.0, max_tokens=48, seed=7 + i)])[0].texts[0]
                     for i in range(5)]
        finally:
            backend.close()
        notes.append(f"flash attention {'on' if flash else 'off'}: sample i the same alone as among 5: "
                     f"{sum(a == b for a, b in zip(five, alone, strict=True))} of 5")
        for kind, rows in kinds.items():
            ref = score(rows, False, args.threads, 8, config, similarity, in_flight=1)
            reuse = score(rows, True, args.threads, 8, config, similarity)
            rev = score(rows[::-1], True, args.threads, 8, config, similarity)
            same = [sum(run["scores"][k] == ref["scores"][k] for k in ref["scores"]) for run in (reuse, rev)]
            gap = max(abs((run["scores"][k][0] or 0.0) - (ref["scores"][k][0] or 0.0))
                      for run in (reuse, rev) for k in ref["scores"])
            print(f"| {'on' if flash else 'off'} | {kind} | {ref['seconds']:.1f} | {reuse['seconds']:.1f} | "
                  f"{rev['seconds']:.1f} | {same[0]} / {same[1]} of {len(rows)} | {gap:.2g} |", flush=True)
    print("\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
