"""Cross-fitted confidence (issue 8): folds, target probability, combination, resume, CLI.

Fold models here are scripted FakeBackends that "know" the task (they give the true label
of a prompt high log-likelihood); the trainer is a stub that records what it trained on.
One slow test fine-tunes two real tiny fold models.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from clearft.backends.base import GenerateRequest, LoglikelihoodRequest
from clearft.backends.fake import FakeBackend
from clearft.cli.main import main
from clearft.data.example import Example
from clearft.errors import ClearftError
from clearft.scoring import Usage, make_config
from clearft.scoring.crossfit import (
    CrossFitConfig,
    FoldRoutingBackend,
    assign_folds,
    combine,
    crossfit_examples,
    estimate_crossfit,
    estimate_lines,
    fold_candidates,
    fold_routes,
    label_set,
    normalised_label_probs,
    per_token_probability,
    score_target_probability,
)
from clearft.scoring.crossfit import models as cfmod


def sentiment_rows(n: int = 24, flip: tuple[int, ...] = (1, 6, 11)) -> list[Example]:
    """Rows whose true label is in the prompt ("good"/"bad"); rows in `flip` are mislabelled."""
    out = []
    for i in range(n):
        good = i % 2 == 0
        label = "positive" if good else "negative"
        if i in flip:
            label = "negative" if good else "positive"
        prompt = f"review {i}: the product is {'good' if good else 'bad'}"
        out.append(Example(f"r{i}", [{"role": "user", "content": prompt}], label, record={"text": prompt}))
    return out


def knows_the_task(req: LoglikelihoodRequest) -> float:
    good = "good" in req.messages[-1]["content"]
    right = "positive" if good else "negative"
    return -0.1 if req.continuation == right else -4.0


class Lab:
    """A stub trainer and fold-model opener that record what happened."""

    def __init__(self) -> None:
        self.trained: dict[str, list[str]] = {}
        self.opened: list[str] = []

    def train(self, rows: list[Example], out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "DONE").write_text(f"{out_dir.name}\n")
        self.trained[out_dir.name] = [ex.id for ex in rows]
        return out_dir

    def open(self, model_dir: Path) -> FakeBackend:
        self.opened.append(model_dir.name)
        return FakeBackend(scorer=knows_the_task, model=model_dir.name,
                           responder=lambda req, i, name=model_dir.name: f"answer from {name}",
                           choice_logprobs=lambda req: {"A": math.log(0.7), "B": math.log(0.2), "C": math.log(0.1)})


# ---------------------------------------------------------------- pure parts


def test_folds_are_stratified_balanced_and_independent_of_row_order() -> None:
    keys = [f"k{i}" for i in range(31)]
    strata = ["a" if i < 20 else "b" for i in range(31)]
    folds = assign_folds(keys, strata, 3, seed=0)
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for label in ("a", "b"):
        per_fold = Counter(f for f, s in zip(folds, strata, strict=True) if s == label)
        assert max(per_fold.values()) - min(per_fold.values()) <= 1
    reversed_folds = assign_folds(keys[::-1], strata[::-1], 3, seed=0)
    assert dict(zip(keys[::-1], reversed_folds, strict=True)) == dict(zip(keys, folds, strict=True))
    assert assign_folds(keys, strata, 3, seed=1) != folds


def test_label_set_only_for_label_targets() -> None:
    assert label_set(["A", "B", "A", "C", "B", "A"] * 2) == ["A", "B", "C"]
    assert label_set([f"a long free text answer number {i} with words" for i in range(12)]) is None


def test_label_probabilities_are_a_softmax_over_the_label_set() -> None:
    probs = normalised_label_probs({"x": math.log(0.2), "y": math.log(0.6)})
    assert probs["x"] == pytest.approx(0.25) and probs["y"] == pytest.approx(0.75)
    assert per_token_probability(-2.0, 4) == pytest.approx(math.exp(-0.5))


def test_combine_weights_and_missing_parts() -> None:
    assert combine({"label-prob": 0.9, "bsdetector": 0.1}, 0.8) == pytest.approx(0.74)
    assert combine({"label-prob": None, "bsdetector": 0.3}, 0.8) == 0.3
    assert combine({"label-prob": 0.6, "bsdetector": None}, 0.8) == 0.6
    assert combine({"label-prob": None, "bsdetector": None}, 0.8) is None
    # label-prob keeps its weight; the other parts share the rest equally
    three = {"label-prob": 1.0, "bsdetector": 0.2, "embedding-classifier": 0.6}
    assert combine(three, 0.5) == pytest.approx(0.5 * 1.0 + 0.5 * 0.4)
    assert combine({**three, "label-prob": None}, 0.5) == pytest.approx(0.4)


def test_config_is_checked() -> None:
    with pytest.raises(ClearftError):
        CrossFitConfig(folds=1).validate()
    with pytest.raises(ClearftError):
        CrossFitConfig(parts=("magic",)).validate()


def test_config_from_command_options_fills_the_defaults() -> None:
    cf = CrossFitConfig.from_options(3, " label-prob, bsdetector ,", seed=7, finetune={"max_steps": 2})
    assert cf == CrossFitConfig(folds=3, parts=("label-prob", "bsdetector"), seed=7, finetune={"max_steps": 2})
    assert CrossFitConfig.from_options(2, ["label-prob"], label_weight=0.3, max_normalised_labels=5) == CrossFitConfig(
        parts=("label-prob",), label_weight=0.3, max_normalised_labels=5)


def test_a_runs_score_stage_and_its_estimate_share_one_config() -> None:
    from clearft.pipeline import RunConfig
    from clearft.pipeline.toolkit import run_crossfit_config

    cf = run_crossfit_config(RunConfig(cross_fit=3, seed=4, finetune={"max_steps": 5}, progress=False))
    assert (cf.folds, cf.seed, cf.parts) == (3, 4, ("label-prob", "embedding-classifier"))
    assert cf.finetune == {"seed": 4, "max_steps": 5, "progress": False}


# ---------------------------------------------------------------- target probability


def test_target_probability_of_labels_and_of_free_text() -> None:
    rows = sentiment_rows(4, flip=(1,))
    fake = FakeBackend(scorer=knows_the_task)
    out = score_target_probability(rows, fake, ["negative", "positive"], Usage())
    assert out[0][0] > 0.9 and out[1][0] < 0.1  # row 1 is mislabelled
    assert out[1][1]["predicted_label"] == "negative"  # its true label
    assert len(fake.calls) == 8  # one request per label per row
    free = score_target_probability(rows[:1], FakeBackend(scorer=lambda r: -3.0), None, Usage())
    assert free[0][0] == pytest.approx(math.exp(-3.0))  # one fake token


def test_many_labels_score_the_given_label_alone_with_one_request_a_row(tmp_path: Path) -> None:
    rows = sentiment_rows(4, flip=(1,))
    fake = FakeBackend(scorer=knows_the_task)
    out = score_target_probability(rows, fake, ["negative", "positive"], Usage(), normalise=False)
    assert len(fake.calls) == 4  # one request per row, for its own label
    assert out[0][0] == pytest.approx(math.exp(-0.1)) and out[1][0] == pytest.approx(math.exp(-4.0))
    assert out[1][1]["label_prob_mode"] == "given label"
    # crossfit_examples switches to it above max_normalised_labels, and the estimate agrees.
    cf = CrossFitConfig(max_normalised_labels=1)
    lab = Lab()
    results = crossfit_examples(sentiment_rows(), tmp_path, cf, make_config(), train=lab.train, open_model=lab.open)
    assert all(r.evidence["label_prob_mode"] == "given label" for r in results)
    assert {r.id for r in sorted(results, key=lambda r: r.confidence)[:3]} == {"r1", "r6", "r11"}
    assert estimate_crossfit(sentiment_rows(), cf, make_config())["loglikelihood_requests"] == 24


# ---------------------------------------------------------------- cross-fitting


def test_every_row_is_scored_by_a_model_that_never_saw_it(tmp_path: Path) -> None:
    rows = sentiment_rows()
    lab = Lab()
    results = crossfit_examples(rows, tmp_path, CrossFitConfig(folds=3), make_config(),
                                train=lab.train, open_model=lab.open)
    assert len(lab.trained) == 3
    flipped = {"r1", "r6", "r11"}
    right = 1 / (1 + math.exp(-3.9))  # P(true label): log-likelihood -0.1 against -4.0, normalised
    for ex, r in zip(rows, results, strict=True):
        fold_name = f"fold-{r.evidence['fold'] + 1}-of-3"
        assert ex.id not in lab.trained[fold_name]
        assert r.method == "crossfit"
        lp, emb = r.evidence["label_prob"], r.evidence["embedding_classifier"]
        assert lp == pytest.approx(1 - right if ex.id in flipped else right)
        assert r.confidence == pytest.approx(combine({"label-prob": lp, "embedding-classifier": emb}, 0.5))
    worst = sorted(results, key=lambda r: r.confidence)[:3]
    assert {r.id for r in worst} == flipped
    folds = json.loads((tmp_path / "folds.json").read_text())
    assert set(folds["fold_of"]) == {ex.id for ex in rows}


def test_finished_folds_are_reused_and_changed_settings_are_not(tmp_path: Path) -> None:
    rows = sentiment_rows()
    lab = Lab()
    first = crossfit_examples(rows, tmp_path, CrossFitConfig(), make_config(), train=lab.train, open_model=lab.open)
    assert len(lab.opened) == 2
    again = crossfit_examples(rows, tmp_path, CrossFitConfig(), make_config(), train=lab.train, open_model=lab.open)
    assert len(lab.opened) == 2  # no fold model was asked again
    assert [r.confidence for r in again] == [r.confidence for r in first]
    crossfit_examples(rows, tmp_path, CrossFitConfig(seed=0, parts=("label-prob", "bsdetector")),
                      make_config("base"), train=lab.train, open_model=lab.open)
    assert len(lab.opened) == 4


def test_bsdetector_part_by_the_fold_model_is_combined(tmp_path: Path) -> None:
    rows = sentiment_rows(8, flip=())
    lab = Lab()
    cf = CrossFitConfig(parts=("label-prob", "bsdetector"), label_weight=0.5)
    results = crossfit_examples(rows, tmp_path, cf, make_config("base"), train=lab.train, open_model=lab.open)
    for r in results:
        lp, b = r.evidence["label_prob"], r.evidence["bsdetector"]
        assert r.self_reflection == pytest.approx(0.75) and b == pytest.approx(0.75)  # 0.7 + 0.1 / 2
        assert r.confidence == pytest.approx(0.5 * lp + 0.5 * b)


def test_embedding_part_joins_finished_folds_without_asking_the_fold_models_again(tmp_path: Path) -> None:
    rows = sentiment_rows()
    lab = Lab()
    alone = crossfit_examples(rows, tmp_path, CrossFitConfig(parts=("label-prob",)), make_config(),
                              train=lab.train, open_model=lab.open)
    assert len(lab.opened) == 2
    cf = CrossFitConfig(parts=("label-prob", "embedding-classifier"), label_weight=0.5)
    both = crossfit_examples(rows, tmp_path, cf, make_config(), train=lab.train, open_model=lab.open)
    assert len(lab.opened) == 2  # label-prob came from the finished folds' score files
    for ex, a, r in zip(rows, alone, both, strict=True):
        emb = r.evidence["embedding_classifier"]
        assert r.evidence["label_prob"] == a.confidence
        # two labels: the given label has the larger probability exactly where it is the predicted one
        assert (emb > 0.5) == (r.evidence["embedding_predicted_label"] == ex.response), (ex.id, emb)
        assert r.confidence == pytest.approx(0.5 * a.confidence + 0.5 * emb)
    # the real embedding classifier sees the flipped rows among the other label's rows
    assert {r.id for r in sorted(both, key=lambda r: r.confidence)[:3]} == {"r1", "r6", "r11"}
    assert both[1].evidence["embedding_predicted_label"] == "negative"


def test_embedding_part_is_left_out_for_free_text_targets(tmp_path: Path) -> None:
    rows = [Example(f"t{i}", [{"role": "user", "content": f"question {i}"}],
                    f"a long free text answer number {i} with several words in it") for i in range(6)]
    lab = Lab()
    said: list[str] = []
    out = crossfit_examples(rows, tmp_path, CrossFitConfig(parts=("label-prob", "embedding-classifier")), make_config(),
                            train=lab.train, open_model=lab.open, log=said.append)
    assert any("embedding-classifier part is left out" in line for line in said)
    assert all(r.confidence == r.evidence["label_prob"] and "embedding_classifier" not in r.evidence for r in out)


def test_too_few_rows_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClearftError, match="at least 3 rows"):
        crossfit_examples(sentiment_rows(2), tmp_path, CrossFitConfig(folds=3), make_config())


def test_estimate_counts_fine_tunes_steps_and_calls() -> None:
    rows = sentiment_rows(40)
    est = estimate_crossfit(rows, CrossFitConfig(folds=2, finetune={"batch_size": 4, "grad_accum": 2}), make_config())
    assert est["fine_tunes"] == 2 and est["training_rows_per_fold"] == [20, 20]
    assert est["training_steps"] == 6  # ceil(20 / 8) per fold
    assert est["loglikelihood_requests"] == 80 and est["generated_samples"] == 0
    chars = sum(len(ex.prompt_text) + len(ex.response) for ex in rows)
    assert est["prompt_tokens"] == 2 * chars // 4  # two labels: each prompt is scored twice
    config = make_config()
    both = estimate_crossfit(rows, CrossFitConfig(parts=("label-prob", "bsdetector")), config)
    assert both["generated_samples"] == 40 * (config.k + config.rounds)  # each row, by its fold model
    with_emb = estimate_crossfit(rows, CrossFitConfig(parts=("label-prob", "embedding-classifier")), make_config())
    assert with_emb["embedded_rows"] == 40 and with_emb["requests"] == est["requests"]
    assert any("embedding-classifier: 40 prompts" in line for line in estimate_lines(with_emb))
    alone = estimate_crossfit(rows, CrossFitConfig(parts=("label-prob",)), make_config())
    assert not any("embedding-classifier" in line for line in estimate_lines(alone))


# ---------------------------------------------------------------- Auto-Correct reuse


def test_candidates_come_from_the_rows_own_fold_model(tmp_path: Path) -> None:
    rows = sentiment_rows()
    lab = Lab()
    results = crossfit_examples(rows, tmp_path, CrossFitConfig(), make_config(), train=lab.train, open_model=lab.open)
    cands = fold_candidates(rows, tmp_path, open_model=lab.open)
    for r, cand in zip(results, cands, strict=True):
        assert cand == f"answer from fold-{r.evidence['fold'] + 1}-of-2"


def test_router_sends_routed_prompts_to_fold_models_and_the_rest_to_fallback(tmp_path: Path) -> None:
    rows = sentiment_rows()
    lab = Lab()
    crossfit_examples(rows, tmp_path, CrossFitConfig(), make_config(), train=lab.train, open_model=lab.open)
    m1 = FakeBackend(responder=lambda req, i: "answer from M1")
    router = FoldRoutingBackend(m1, fold_routes(rows[:4], tmp_path), lab.open)
    outs = router.generate([GenerateRequest(ex.messages) for ex in rows[:6]])
    texts = [c.texts[0] for c in outs]
    assert all(t.startswith("answer from fold-") for t in texts[:4])
    assert texts[4:] == ["answer from M1", "answer from M1"]
    router.close()


# ---------------------------------------------------------------- CLI


def write_rows(path: Path, rows: list[Example]) -> None:
    path.write_text("".join(json.dumps({"id": ex.id, "prompt": ex.messages[0]["content"],
                                        "response": ex.response}) + "\n" for ex in rows))


def test_cli_dry_run_shows_fine_tunes_and_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    write_rows(data, sentiment_rows(30))
    assert main(["score", str(data), "-o", str(tmp_path / "s.jsonl"), "--cross-fit", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "fine-tunes: 3" in out and "60 log-likelihood requests" in out
    assert not (tmp_path / "s.jsonl").exists()


def test_cli_cross_fit_scores_with_fold_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "d.jsonl"
    write_rows(data, sentiment_rows())
    lab = Lab()
    monkeypatch.setattr(cfmod, "default_trainer", lambda *_a, **_k: lab.train)
    monkeypatch.setattr(cfmod, "default_opener", lambda *_a, **_k: lab.open)
    out = tmp_path / "s.jsonl"
    assert main(["score", str(data), "-o", str(out), "--cross-fit", "2", "--backend", "fake", "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == [f"r{i}" for i in range(24)]
    low = sorted(records, key=lambda r: r["confidence"])[:3]
    assert {r["id"] for r in low} == {"r1", "r6", "r11"}
    assert (tmp_path / "s.jsonl.crossfit" / "fold-1-of-2").is_dir()
    assert json.loads((tmp_path / "s.jsonl.meta.json").read_text())["crossfit"]["folds"] == 2


# ---------------------------------------------------------------- real fine-tunes


def check_fold_scores(targets: list[str], scored: list[tuple[float, dict]], label_weight: float) -> None:
    """Per row (its target; its confidence and evidence): the fold model's probabilities are a
    softmax over the two labels, read at the target, and the confidence is their combination
    with the embedding classifier's."""
    for target, (confidence, ev) in zip(targets, scored, strict=True):
        probs = ev["label_probs"]
        assert set(probs) == {"negative", "positive"} and sum(probs.values()) == pytest.approx(1.0)
        assert ev["label_prob"] == probs[target]
        assert ev["predicted_label"] == max(probs, key=probs.__getitem__)
        assert confidence == pytest.approx(combine(
            {"label-prob": ev["label_prob"], "embedding-classifier": ev["embedding_classifier"]}, label_weight))


@pytest.mark.slow
def test_real_fold_models_score_every_row_and_resume(tmp_path: Path) -> None:
    """Two real (tiny: one LoRA step each) fold models of the embedded model, served by
    llama.cpp from the GGUF finetune writes; a rerun trains nothing and asks no model."""
    rows = sentiment_rows(10, flip=(1,))  # 10: the label-space rule's row minimum
    cf = CrossFitConfig(folds=2, finetune={"max_steps": 1, "batch_size": 4, "grad_accum": 1, "lora_r": 4,
                                           "lora_alpha": 8, "max_seq_len": 64, "progress": False})
    opened: list[Path] = []

    def open_model(model_dir: Path):  # type: ignore[no-untyped-def]
        opened.append(model_dir)
        return cfmod.default_opener(cache="off")(model_dir)

    results = crossfit_examples(rows, tmp_path, cf, make_config(), open_model=open_model)
    assert all(r.error is None for r in results)
    check_fold_scores([ex.response for ex in rows], [(r.confidence, r.evidence) for r in results], cf.label_weight)
    assert all((tmp_path / f"fold-{i}-of-2" / "DONE").is_file() for i in (1, 2))
    assert all((d / "model.gguf").is_file() for d in opened)
    again = crossfit_examples(rows, tmp_path, cf, make_config(), open_model=open_model)
    assert len(opened) == 2
    assert [r.confidence for r in again] == [r.confidence for r in results]
