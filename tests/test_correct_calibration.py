"""The evidence judge's calibrated posterior (correction/evidence.temperature_posterior) and
how `--calibration auto` picks it (correction/label_views.py, correction/config.py)."""

from __future__ import annotations

from typing import Any

import pytest

from clearft.correction import evidence
from clearft.correction.config import CALIBRATED, CorrectConfig, evidence_form

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")


def synthetic(classes: int, strength: float, rows: int = 1500, noise: float = 0.2, seed: int = 0) -> tuple[Any, Any, Any]:
    """(a classifier's probabilities, given labels with `noise` of them swapped uniformly, true labels)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, classes, rows)
    logits = rng.normal(0.0, 1.0, (rows, classes))
    logits[np.arange(rows), true] += strength
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    given = true.copy()
    swap = rng.random(rows) < noise
    given[swap] = (true[swap] + rng.integers(1, classes, int(swap.sum()))) % classes
    return probs, given, true


def relabel(post: Any, given: Any, true: Any, eta: float = 0.95) -> tuple[int, int, int]:
    best = post.argmax(axis=1)
    changed = (best != given) & (post.max(axis=1) > eta)
    return int(changed.sum()), int((changed & (best == true)).sum()), int((changed & (given == true)).sum())


def test_many_classes_and_a_good_classifier_identify_the_fit_and_relabel_precisely() -> None:
    probs, given, true = synthetic(20, strength=4.0)
    post, fit = evidence.temperature_posterior(probs, given)
    assert fit["identified"] and fit["temperature_shift"] <= evidence.MAX_TEMPERATURE_SHIFT
    assert abs(fit["noise"] - np.mean(given != true)) < 0.05  # the noise estimate is near the truth
    changed, restored, broken = relabel(post, given, true)
    noisy = int((given != true).sum())
    assert restored / changed >= 0.95 and restored > noisy / 2 and broken <= 2
    # the raw probabilities, read at the same 0.95, restore far fewer: the calibration is what pays
    assert relabel(probs, given, true)[1] < restored / 2
    assert np.allclose(post.sum(axis=1), 1.0)


def test_few_classes_or_a_weak_classifier_leave_the_fit_unidentified() -> None:
    # 3 classes: a sharper classifier and more noise explain the labels alike
    probs, given, _ = synthetic(3, strength=2.0)
    _, fit = evidence.temperature_posterior(probs, given)
    assert not fit["identified"] and fit["temperature_shift"] > evidence.MAX_TEMPERATURE_SHIFT
    # 77 classes but a weak classifier: it disagrees with most labels
    probs, given, true = synthetic(77, strength=2.0)
    post, fit = evidence.temperature_posterior(probs, given)
    assert fit["noise"] > evidence.MAX_NOISE and not fit["identified"]
    changed, restored, broken = relabel(post, given, true)
    assert broken > 0 and restored / changed < 0.9  # what trusting it would have done


def test_clean_labels_and_a_mediocre_classifier_break_nothing() -> None:
    """The noise rate is confident learning's estimate, not the share of rows whose top label
    is another (that counts the classifier's own mistakes as noise: here about 0.3)."""
    probs, given, true = synthetic(77, strength=3.0, rows=3000, noise=0.0)
    assert np.mean(probs.argmax(axis=1) != given) > 0.25
    post, fit = evidence.temperature_posterior(probs, given)
    assert fit["noise"] < 0.1
    assert relabel(post, given, true)[2] == 0


def test_two_classes_or_one_are_never_identified() -> None:
    for classes in (2, 1):
        probs, given, _ = synthetic(max(classes, 2), strength=3.0)
        probs = probs[:, :classes] / probs[:, :classes].sum(axis=1, keepdims=True)
        given = np.minimum(given, classes - 1)
        _, fit = evidence.temperature_posterior(probs, given)
        assert not fit["identified"]


def test_the_noisy_label_posterior_weighs_the_given_label() -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    post = evidence.noisy_label_posterior(probs, [1, 2], noise=0.2)
    # row 0: class 1 gets 0.3 * 0.8, classes 0 and 2 their probability * 0.1
    expected = np.array([0.05, 0.24, 0.02]) / 0.31
    assert np.allclose(post[0], expected)
    assert post[1].argmax() == 2 and post[1, 2] > 0.6


def test_a_calibrated_posterior_is_read_as_a_probability_at_0_95() -> None:
    config = CorrectConfig()
    assert config.calibration == "auto"
    assert config.eta_for("evidence", CALIBRATED) == 0.95 and config.gate_for_evidence(CALIBRATED) == "probability"
    assert evidence_form({"calibration": "temperature", "label_model": "ensemble-frozen"}) == CALIBRATED
    assert evidence_form({"calibration": "none", "label_model": "ensemble-frozen"}) == "ensemble-frozen"
    assert config.eta_for("evidence", "ensemble-frozen") == 0.6  # uncalibrated: the margin as before
    assert CorrectConfig(eta=0.9).eta_for("evidence", CALIBRATED) == 0.9
    # an eta or a gate chosen by hand was chosen for the uncalibrated reading: auto stands down
    assert config.classifier_calibration() == "auto"
    assert CorrectConfig(eta=0.6).classifier_calibration() == "none"
    assert CorrectConfig(gate="margin").classifier_calibration() == "none"
    assert CorrectConfig(eta=0.9, calibration="temperature").classifier_calibration() == "temperature"
    with pytest.raises(ValueError, match="calibration must be one of"):
        CorrectConfig(calibration="platt")


@pytest.mark.parametrize(("calibration", "identified", "used"), [
    ("auto", True, "temperature"), ("auto", False, "none"), ("temperature", False, "temperature"),
    ("none", True, "none"),
])
def test_auto_calibrates_the_frozen_ensemble_only_where_the_fit_is_identified(
        monkeypatch: pytest.MonkeyPatch, calibration: str, identified: bool, used: str) -> None:
    from clearft.correction import label_views
    from clearft.data.example import Example

    words = {"pos": "great strong rising profit", "neg": "weak falling loss cut", "neu": "flat steady unchanged held"}
    context = [Example(id=str(i), messages=[{"role": "user", "content": f"{words[lab]} {i}"}], response=lab)
               for i, lab in enumerate(["pos", "neg", "neu"] * 10)]
    monkeypatch.setattr("clearft.scoring.similarity.embed",
                        lambda texts: np.array([[t.count("great") + t.count("strong"), t.count("weak"), t.count("flat")]
                                                for t in texts], dtype=float))
    calls: list[int] = []
    real = evidence.temperature_posterior

    def fake_fit(probs: Any, given: Any) -> tuple[Any, dict[str, Any]]:
        post, fit = real(probs, given)
        calls.append(len(given))
        return post, {**fit, "identified": identified}

    monkeypatch.setattr(evidence, "temperature_posterior", fake_fit)
    post, info = label_views.classifier_posteriors(context, classifier="ensemble", calibration=calibration)
    assert info["label_model"] == "ensemble-frozen" and info["calibration"] == used
    assert bool(calls) == (calibration != "none")
    assert set(post) == {ex.id for ex in context}


@pytest.mark.slow
def test_real_calibrated_judge_on_banking77_with_many_intents(tmp_path: Any, shared_data: Any) -> None:
    """The default judge on real BANKING77 queries, 30 intents, 20% of the labels swapped to
    another of them: the frozen ensemble's fit is identified, so the calibrated posterior is read
    at 0.95; what it replaces restores the clean label with few mistakes, and a row whose
    posterior stays under 0.95 keeps its target."""
    import csv
    import json
    import random

    from clearft.correction import CORRECTION_COL, ORIGINAL_COL, correct_file

    with (shared_data / "banking77" / "train.csv").open(newline="", encoding="utf-8") as f:
        by_intent: dict[str, list[str]] = {}
        for row in csv.DictReader(f):
            by_intent.setdefault(row["category"], []).append(row["text"])
    intents = sorted(by_intent)[:30]
    rng = random.Random(0)
    rows, clean = [], {}
    for intent in intents:
        for i, text in enumerate(by_intent[intent][:40]):
            rid = f"{intent}-{i}"
            clean[rid] = intent
            label = rng.choice([x for x in intents if x != intent]) if rng.random() < 0.2 else intent
            rows.append({"id": rid, "prompt": f"Which banking intent is this query? {text}", "response": label})
    data = tmp_path / "noisy.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "fixed.jsonl"
    summary = correct_file(data, out, None, CorrectConfig(), all_rows=True)
    info = summary.settings["classifier"]
    assert info["label_model"] == "ensemble-frozen" and info["calibration"] == "temperature"
    assert info["temperature_fit"]["identified"]
    assert summary.settings["evidence_eta"] == 0.95 and summary.settings["evidence_gate"] == "probability"
    written = [json.loads(line) for line in out.read_text().splitlines()]
    left = [json.loads(line) for line in (tmp_path / "fixed.uncorrected.jsonl").read_text().splitlines()]
    changed = [r for r in written if r[ORIGINAL_COL]]
    restored = sum(r["response"] == clean[r["id"]] for r in changed)
    broken = sum(r[ORIGINAL_COL] == clean[r["id"]] for r in changed)
    noisy = sum(r["response"] != clean[r["id"]] for r in rows)
    assert restored >= noisy / 3 and restored >= 0.9 * len(changed) and broken <= 2
    weak = [r for r in written + left if r[CORRECTION_COL]["reason"] == "evidence_not_confident"]
    assert weak and all(not r.get(ORIGINAL_COL) and r[CORRECTION_COL]["confidence"] <= 0.95 for r in weak)
