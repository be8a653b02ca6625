"""score_file: output schema, sidecar, dry run, and resuming a killed run from its journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.backends.base import GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.scoring import bsdetector, make_config, score_file
from clearft.scoring.result import COLUMNS
from clearft.scoring.runfile import journal_path, meta_path


def responder(req: GenerateRequest, i: int) -> str:
    # Seeded: the reply depends only on the request (as a real seeded sampler's does).
    return f"explanation: e, answer: {'ABC'[req.seed % 3]}"


def _data(path: Path, n: int = 10) -> Path:
    rows = [{"id": f"r{i}", "prompt": f"Question {i}?", "response": "A" if i % 2 else f"text {i}"}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


CONFIG = make_config(method="bsdetector", similarity="exact", batch_size=3)


def recomputed_confidence(record: dict, config) -> float | None:  # type: ignore[no-untyped-def]
    """BSDetector's C of a scored row, recomputed by the pure functions from the samples and
    reflection verdicts the row records."""
    ev = record["clearft_evidence"]
    parsed = [s for s in ev["samples"] if s["answer"] is not None]
    o = bsdetector.observed_consistency([s["similarity"] for s in parsed], [s["exact_match"] for s in parsed],
                                        config.alpha)
    s = bsdetector.reflection_certainty([bsdetector.verdict_certainty(x["verdict"], x["probs"])
                                         for x in ev["reflections"]])
    assert (record["consistency"], record["self_reflection"]) == (pytest.approx(o), pytest.approx(s))
    return bsdetector.combine(o, s, config.beta)


def test_output_keeps_every_record_and_adds_the_schema(tmp_path: Path) -> None:
    src = _data(tmp_path / "in.jsonl")
    before = src.read_bytes()
    summary = score_file(src, tmp_path / "out.jsonl", FakeBackend(responder=responder, logprobs=False),
                         CONFIG, progress=False)
    out = _read(tmp_path / "out.jsonl")
    assert src.read_bytes() == before
    assert len(out) == 10 and summary.rows == 10 and summary.scored == 10
    assert [r["id"] for r in out] == [f"r{i}" for i in range(10)]
    for r in out:
        assert set(COLUMNS) <= set(r) and "prompt" in r and "response" in r
        assert r["clearft_method"] == "bsdetector"
        ev = r["clearft_evidence"]
        assert len(ev["samples"]) == CONFIG.k and len(ev["reflections"]) == CONFIG.rounds
        # exact similarity: a sample agrees exactly when its answer is the row's response
        assert [(s["similarity"], s["exact_match"]) for s in ev["samples"]] == \
            [(float(s["answer"] == r["response"]), s["answer"] == r["response"]) for s in ev["samples"]]
        assert r["confidence"] == pytest.approx(recomputed_confidence(r, CONFIG))
    meta = json.loads(meta_path(tmp_path / "out.jsonl").read_text())
    assert meta["method"] == "bsdetector" and meta["k"] == 5 and meta["rounds"] == 2
    assert meta["alpha"] == 0.8 and meta["beta"] == 0.7 and meta["seed"] == 0
    assert meta["backend"]["backend"] == "fake"
    assert not journal_path(tmp_path / "out.jsonl").exists()
    assert summary.usage.calls == 4  # 10 rows in batches of 3, no retries


def test_dry_run_spends_nothing(tmp_path: Path) -> None:
    backend = FakeBackend(responder=responder, logprobs=False)
    summary = score_file(_data(tmp_path / "in.jsonl"), tmp_path / "out.jsonl", backend, CONFIG,
                         dry_run=True, progress=False)
    assert backend.calls == [] and not (tmp_path / "out.jsonl").exists()
    assert summary.estimate["requests"] == 10 * 3
    assert summary.estimate["generated_samples"] == 10 * 7
    assert summary.estimate["max_completion_tokens"] == 10 * (5 * 64 + 2 * 128)
    assert "dry run" in summary.lines()[0]


def test_killed_run_resumes_without_redoing_finished_rows(tmp_path: Path) -> None:
    src = _data(tmp_path / "in.jsonl")

    class DiesOnThirdBatch(FakeBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            self.batches = getattr(self, "batches", 0) + 1
            if self.batches == 3:
                raise KeyboardInterrupt
            return super().generate(requests)

    with pytest.raises(KeyboardInterrupt):
        score_file(src, tmp_path / "out.jsonl", DiesOnThirdBatch(responder=responder, logprobs=False),
                   CONFIG, progress=False)
    journal = journal_path(tmp_path / "out.jsonl")
    assert len(journal.read_text().splitlines()) == 6  # two finished batches of 3
    assert not (tmp_path / "out.jsonl").exists()

    rerun = FakeBackend(responder=responder, logprobs=False)
    summary = score_file(src, tmp_path / "out.jsonl", rerun, CONFIG, progress=False)
    assert summary.reused == 6
    assert len(rerun.calls) == 4 * 3  # only the 4 unfinished rows were asked
    fresh = FakeBackend(responder=responder, logprobs=False)
    score_file(src, tmp_path / "fresh.jsonl", fresh, CONFIG, progress=False)
    assert _read(tmp_path / "out.jsonl") == _read(tmp_path / "fresh.jsonl")
    assert not journal.exists()


def test_journal_of_other_settings_is_not_reused(tmp_path: Path) -> None:
    src = _data(tmp_path / "in.jsonl", n=4)
    out = tmp_path / "out.jsonl"
    journal_path(out).write_text(json.dumps({"fingerprint": "other", "key": "2:r0", "result": {}}) + "\n{torn")
    backend = FakeBackend(responder=responder, logprobs=False)
    summary = score_file(src, out, backend, CONFIG, progress=False)
    assert summary.reused == 0 and len(backend.calls) == 4 * 3


def test_batch_size_does_not_change_the_file(tmp_path: Path) -> None:
    src = _data(tmp_path / "in.jsonl")
    outputs = []
    for size in (1, 4, 16):
        config = make_config(method="bsdetector", similarity="exact", batch_size=size)
        score_file(src, tmp_path / f"o{size}.jsonl", FakeBackend(responder=responder, logprobs=False),
                   config, progress=False)
        outputs.append(_read(tmp_path / f"o{size}.jsonl"))
    assert outputs[0] == outputs[1] == outputs[2]


def test_failing_row_is_an_error_record_and_the_run_goes_on(tmp_path: Path) -> None:
    backend = FakeBackend(responder=responder, logprobs=False,
                          fail_when=lambda req: "Question 4?" in req.messages[-1]["content"])
    summary = score_file(_data(tmp_path / "in.jsonl"), tmp_path / "out.jsonl", backend, CONFIG, progress=False)
    out = _read(tmp_path / "out.jsonl")
    assert out[4]["confidence"] is None and out[4]["clearft_error"] == "scripted failure"
    assert sum(r["clearft_error"] is not None for r in out) == 1
    assert summary.failed == 1 and summary.scored == 9


def test_backend_factory_is_not_called_for_embedding_classifier_dry_run(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "response": "pos" if i % 2 else "neg"} for i in range(20)]
    src = tmp_path / "labels.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def factory():  # type: ignore[no-untyped-def]
        raise AssertionError("no model needed")

    summary = score_file(src, tmp_path / "o.jsonl", factory, make_config(), dry_run=True, progress=False)
    assert summary.method == "embedding-classifier" and summary.estimate["requests"] == 0


def test_auto_on_free_text_asks_the_backend_which_method(tmp_path: Path) -> None:
    """score_file resolves "auto" on free text after opening the model: its free-text default
    (IFD on llama.cpp), recorded in the summary, the rows and the sidecar."""

    class LlamaLike(FakeBackend):
        name = "llamacpp"

    src = tmp_path / "free.jsonl"
    rows = [{"id": f"r{i}", "prompt": f"Question {i}?", "response": f"a worked answer of its own, number {i}"}
            for i in range(12)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "scored.jsonl"
    summary = score_file(src, out, LlamaLike(), make_config(batch_size=5), progress=False)
    assert summary.method == "ifd"
    assert {r["clearft_method"] for r in _read(out)} == {"ifd"}
    assert json.loads(meta_path(out).read_text())["method"] == "ifd"
    assert score_file(src, tmp_path / "b.jsonl", FakeBackend(), make_config(batch_size=5), progress=False).method == "bsdetector"
