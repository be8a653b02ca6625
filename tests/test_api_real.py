"""clearft.score for real: the embedded default model, by name, on a few fixture rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clearft

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"


def test_score_a_dataframe_with_the_default_model() -> None:
    pd = pytest.importorskip("pandas")
    gsm8k = [json.loads(line) for line in (FIXTURES / "gsm8k_2.jsonl").read_text().splitlines()]
    alpaca = json.loads((FIXTURES / "alpaca.json").read_text())
    frame = pd.DataFrame([{"prompt": r["question"], "response": r["answer"]} for r in gsm8k]
                         + [{"prompt": f"{r['instruction']}\n{r['input']}".strip(), "response": r["output"]}
                            for r in alpaca], index=["g1", "g2", "a1", "a2"])
    scored = clearft.score(frame, method="bsdetector", preset="low", k=2, sample_max_tokens=16,
                           similarity="token-f1", cache="off", progress=False)
    assert isinstance(scored, pd.DataFrame) and scored.index.tolist() == ["g1", "g2", "a1", "a2"]
    assert scored["clearft_error"].isna().all(), scored["clearft_error"].tolist()
    assert scored["confidence"].between(0.0, 1.0).all()
    assert (scored["clearft_method"] == "bsdetector").all()
    assert all(len(ev["samples"]) == 2 for ev in scored["clearft_evidence"])
