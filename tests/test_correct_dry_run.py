"""`clearft correct --dry-run`: the cost of a run, counted by the run's own rules, with nothing
loaded, embedded or written (no backend at all; the fake one only to check the counts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.backends.fake import FakeBackend
from clearft.cli.main import main
from clearft.correction import CorrectConfig, correct_file
from clearft.correction.candidates import auto_max_tokens
from clearft.correction.estimate import estimate_correct_file, estimate_correction
from clearft.correction.records import read_examples

LABELS = ["negative", "neutral", "positive"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def label_rows(n: int = 30) -> list[dict]:
    return [{"id": str(i), "prompt": f"headline {i}", "response": LABELS[i % 3]} for i in range(n)]


def free_text_rows(n: int = 4) -> list[dict]:
    return [{"id": str(i), "prompt": f"Explain topic {i}.",
             "response": f"Topic {i} is explained here in a sentence well over eight words long.",
             "confidence": 0.1 if i % 2 else 0.9} for i in range(n)]


@pytest.fixture
def nothing_may_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dry run that opened a model or embedded a text would fail here."""
    import clearft.backends.cache as cache
    import clearft.correction.label_views as label_views
    import clearft.scoring.similarity as similarity

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run must not load a model or embed a text")

    monkeypatch.setattr(cache, "open_backend", refuse)
    monkeypatch.setattr(label_views, "classifier_posteriors", refuse)
    monkeypatch.setattr(similarity, "embed", refuse)


def run_dry(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["correct", *argv, "--dry-run"]) == 0
    return capsys.readouterr().out


def test_label_file_gets_the_evidence_judge_and_its_classifier_cost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_may_run: None) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows(30))
    out = tmp_path / "fixed.jsonl"
    text = run_dry(capsys, str(data), "-o", str(out))
    assert "dry run: 30 rows read, 30 considered (all rows), evidence judge" in text
    assert ("30 texts to embed (the 30 context rows; sentence encoder, no LLM calls), 50 classifier "
            "fits (5 folds x 5 regularisation strengths: 0.3, 1, 3, 10, 30, x 2 classifiers: "
            "embeddings and word n-grams)") in text
    assert "judge model: none" in text and "candidates: none" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.jsonl"]  # nothing written


def test_a_label_file_with_many_rows_a_class_counts_the_encoders_fine_tunes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_may_run: None) -> None:
    # 1200 rows, 3 labels: 400 a class, where the default label model fine-tunes its sentence view
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows(1200))
    est = estimate_correct_file(data, CorrectConfig(), all_rows=True)
    assert est.label_model == "ensemble-fine-tuned" and est.encoder_fine_tunes == 5
    assert est.encoder_training_rows == 960 and est.classifier_fits == 50
    text = run_dry(capsys, str(data), "-o", str(tmp_path / "fixed.jsonl"))
    assert "the sentence encoder fine-tuned 5 times (one per fold), at most 960 rows" in text
    frozen = estimate_correct_file(data, CorrectConfig(label_model="ensemble-frozen"), all_rows=True)
    assert frozen.label_model == "ensemble-frozen" and frozen.encoder_fine_tunes == 0
    small = estimate_correct_file(write_jsonl(tmp_path / "small.jsonl", label_rows(1197)), CorrectConfig(),
                                  all_rows=True)
    assert small.label_model == "ensemble-frozen" and small.encoder_fine_tunes == 0


def test_dropped_rows_with_a_context_and_a_candidate_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_may_run: None) -> None:
    whole = label_rows(30)
    context = write_jsonl(tmp_path / "all.jsonl", whole)
    dropped = write_jsonl(tmp_path / "dropped.jsonl", whole[:6])
    text = run_dry(capsys, str(dropped), "-o", str(tmp_path / "o.jsonl"), "--context", str(context),
                   "--candidate-model", "ft", "--candidate-backend", "fake", "--batch-size", "4")
    limit = auto_max_tokens(LABELS)
    assert "dry run: 6 rows read, 6 considered (low rows), evidence judge" in text
    assert "30 texts to embed (the 30 context rows" in text
    assert (f"candidate model (ft via fake): 6 greedy requests, at most {limit} tokens each, in about "
            f"2 batched backend calls") in text
    assert f"+ at most {6 * limit} generated" in text
    assert not (tmp_path / "o.jsonl").exists()


def test_free_text_file_with_a_model_gets_the_llm_judge(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_may_run: None) -> None:
    data = write_jsonl(tmp_path / "scored.jsonl", free_text_rows(4))
    out = tmp_path / "fixed.jsonl"
    args = [str(data), "-o", str(out), "--candidate-model", "ft", "--candidate-backend", "fake",
            "--backend", "fake", "--threshold", "0.5"]
    # auto: the estimator judge (BSDetector on target and candidate: 2 scorings a row).
    text = run_dry(capsys, *args)
    assert "dry run: 4 rows read, 2 considered (low rows), estimator judge" in text
    assert "estimator judge: BSDetector on the target and the candidate of each row: at most 12 requests" in text
    args.append("--judge=llm")
    text = run_dry(capsys, *args)
    assert "dry run: 4 rows read, 2 considered (low rows), llm judge" in text
    assert "candidate model (ft via fake): 2 greedy requests" in text
    # Per order: a verdict (letter probabilities), an explanation, one request for 3 sampled
    # verdicts, a reflection; in both orders.
    assert ("llm judge: 8 requests a row (in each of 2 orders: verdict, explanation, 3 sampled "
            "verdicts, reflection; letter probabilities), at most 16 requests (24 generations)") in text
    # Without letter probabilities, reflection and samples: one generated explanation an order.
    text = run_dry(capsys, *args, "--judge-no-logprobs", "--no-judge-reflection", "--judge-samples", "0")
    assert "llm judge: 2 requests a row (in each of 2 orders: explanation; generated letters)" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scored.jsonl"]


def test_the_counts_are_what_the_run_spends(tmp_path: Path) -> None:
    """The estimate against a real correct_file on fake backends, request for request."""
    data = write_jsonl(tmp_path / "scored.jsonl", free_text_rows(6))
    config = CorrectConfig(batch_size=2, judge="llm")
    est = estimate_correct_file(data, config, threshold=0.5, candidate_model="fake", logprobs=True)
    candidate, judge = FakeBackend(), FakeBackend()  # the candidate echoes the prompt: never the target
    summary = correct_file(data, tmp_path / "o.jsonl", judge, config, candidate_backend=candidate,
                           threshold=0.5)
    assert est.considered == sum(summary.reasons.values()) == summary.judged == 3
    assert est.candidate_requests == len(candidate.calls)
    assert {c.max_tokens for c in candidate.calls} == {est.candidate_max_tokens}
    assert est.judge_requests == len(judge.calls)
    assert est.judge_generations == sum(c.n for c in judge.calls)
    assert est.judge_max_completion_tokens == sum(c.n * c.max_tokens for c in judge.calls)


def test_an_empty_file_costs_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    _, examples = read_examples(tmp_path / "empty.jsonl")
    est = estimate_correction(examples, CorrectConfig())
    assert (est.rows, est.considered, est.judge_requests) == (0, 0, 0)
    assert "no row to judge" in "\n".join(est.lines())


def test_skipped_bad_records_are_counted_not_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_may_run: None) -> None:
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in label_rows(12)) + "{not json\n")
    text = run_dry(capsys, str(data), "-o", str(tmp_path / "o.jsonl"), "--on-error", "skip")
    assert "12 rows read" in text and "1 bad records would be skipped" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.jsonl"]  # no rejects file either


def test_an_out_of_range_option_is_refused_when_parsed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      nothing_may_run: None) -> None:
    data = write_jsonl(tmp_path / "free.jsonl", free_text_rows(12))
    with pytest.raises(SystemExit) as exc:
        main(["correct", str(data), "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--eta", "2"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "clearft correct: error: argument --eta: must be between 0 and 1, got 2.0\n"


@pytest.mark.parametrize(("extra", "message"), [
    (["--candidate-model", "no/such/model"], "is not 'default', a model folder or a .gguf file"),
    (["--judge", "evidence"], "--judge evidence needs class-label targets"),
    ([], "give the model that writes candidates (--candidate-model)"),
])
def test_bad_input_is_one_line_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_may_run: None,
        extra: list[str], message: str) -> None:
    data = write_jsonl(tmp_path / "free.jsonl", free_text_rows(12))
    assert main(["correct", str(data), "-o", str(tmp_path / "o.jsonl"), "--dry-run", *extra]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("clearft correct: error: ") and message in err
    assert main(["correct", str(tmp_path / "missing.jsonl"), "-o", "o.jsonl", "--dry-run"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_the_classifier_folds_are_the_ones_correct_file_uses() -> None:
    import inspect

    from clearft.correction.estimate import CLASSIFIER_FOLDS
    from clearft.correction.label_views import classifier_posteriors

    assert inspect.signature(classifier_posteriors).parameters["folds"].default == CLASSIFIER_FOLDS
