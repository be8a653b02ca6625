"""evaluate(): metric choice, prompts sent, per-row results, the table and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearft.backends.base import GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.cli.main import main
from clearft.data import write_records
from clearft.errors import ClearftError
from clearft.evaluation import (
    EvalResult,
    default_max_tokens,
    evaluate,
    resolve_model,
    results_table,
)


@pytest.fixture
def choice_test(tmp_path: Path) -> Path:
    path = tmp_path / "test.jsonl"
    rows = [
        {"question": "Sales rose.", "options": ["negative", "neutral", "positive"], "answer": "C"},
        {"question": "Profit fell.", "options": ["negative", "neutral", "positive"], "answer": "A"},
        {"question": "CEO named.", "options": ["negative", "neutral", "positive"], "answer": "B"},
        {"question": "Costs cut.", "options": ["negative", "neutral", "positive"], "answer": "C"},
    ]
    write_records(path, rows)
    return path


def test_evaluate_choice_with_prose_replies(choice_test: Path) -> None:
    fake = FakeBackend()
    fake.enqueue("The answer is C", "negative", "I cannot tell", "B.")
    result = evaluate(fake, choice_test, progress=False)
    assert result.metric == "choice"
    assert result.n == 4
    assert result.accuracy == pytest.approx(0.5)
    assert [r["extracted"] for r in result.rows] == ["C", "A", None, "B"]
    assert [r["correct"] for r in result.rows] == [1.0, 1.0, 0.0, 0.0]
    assert result.unparsed == 1
    # Greedy decoding, the lettered options in the prompt, a small token budget.
    req = fake.calls[0]
    assert isinstance(req, GenerateRequest)
    assert req.temperature == 0.0
    assert "A. negative" in req.messages[-1]["content"]
    assert req.max_tokens == default_max_tokens(["C"], "choice")


def test_failed_calls_count_as_wrong_and_are_reported(choice_test: Path) -> None:
    fake = FakeBackend(responder=lambda req, i: "C",
                       fail_when=lambda req: "Profit" in req.messages[-1]["content"])
    result = evaluate(fake, choice_test, progress=False)
    assert result.errors == 1
    failed = [r for r in result.rows if r["error"]]
    assert len(failed) == 1 and failed[0]["correct"] == 0.0
    assert result.accuracy == pytest.approx(2 / 4)


def test_evaluation_on_an_engine_equals_the_local_step(choice_test: Path) -> None:
    """Evaluation is an engine step: on an engine its replicas open the model by name, and
    the rows equal those of the model opened here (the local engine's borrowed backend)."""
    from clearft.engines import EngineConfig, LocalEngine

    def answer(req: GenerateRequest, i: int) -> str:
        return "C" if "Sales" in req.messages[-1]["content"] else "The answer is A"

    here = evaluate(FakeBackend(responder=answer), choice_test, batch_size=3, progress=False)
    engine = LocalEngine(EngineConfig(progress=False))
    there = evaluate("default", choice_test, backend="fake", backend_options={"responder": answer},
                     batch_size=3, progress=False, engine=engine)
    assert there.rows == here.rows and there.accuracy == pytest.approx(0.5)
    assert there.backend["engine"] == "local"
    with pytest.raises(ClearftError, match="name, not an open backend"):
        evaluate(FakeBackend(), choice_test, progress=False, engine=engine)


def test_metric_override_and_limit(choice_test: Path) -> None:
    fake = FakeBackend(responder=lambda req, i: "C")
    result = evaluate(fake, choice_test, metric="text", limit=2, progress=False)
    assert result.metric == "text" and result.n == 2
    assert "f1" in result.extras
    with pytest.raises(ClearftError):
        evaluate(fake, choice_test, metric="bleu", progress=False)


def test_gsm8k_targets_pick_the_number_metric(tmp_path: Path) -> None:
    path = tmp_path / "gsm.jsonl"
    write_records(path, [
        {"question": "2+2?", "answer": "2+2=4\n#### 4"},
        {"question": "3*3?", "answer": "3*3=9\n#### 9"},
    ])
    fake = FakeBackend()
    fake.enqueue("We add them: 2+2 = 4. #### 4", "The answer is 6")
    result = evaluate(fake, path, progress=False)
    assert result.metric == "gsm8k"
    assert [r["extracted"] for r in result.rows] == ["4", "6"]
    assert result.accuracy == 0.5
    # Worked solutions need more room than a letter.
    assert fake.calls[0].max_tokens > default_max_tokens(["A"], "choice") - 16


def test_resolve_model(tmp_path: Path) -> None:
    assert resolve_model("default", None) == ("llamacpp", {})
    assert resolve_model(str(tmp_path), None) == ("transformers", {"model": str(tmp_path)})
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    assert resolve_model(str(gguf), None) == ("llamacpp", {"model": str(gguf)})
    assert resolve_model("gpt-4o-mini", "openai") == ("openai", {"model": "gpt-4o-mini"})
    with pytest.raises(ClearftError, match="--backend openai"):
        resolve_model("gpt-4o-mini", None)


def test_default_max_tokens_grows_with_targets_and_is_capped() -> None:
    assert default_max_tokens(["A"], "choice") == 32
    assert default_max_tokens(["x" * 350], "text") == 166
    assert default_max_tokens(["x" * 100_000], "text") == 1024


def test_results_table_lists_every_model() -> None:
    results = [
        EvalResult("choice", 0.25, 4, [], model="default"),
        EvalResult("choice", 0.75, 4, [], model="runs/model_filtered", unparsed=1),
    ]
    table = results_table(results).splitlines()
    assert table[0].startswith("| model | metric | accuracy")
    assert "| default | choice | 0.250 | 4 | 0 | 0 |" in table
    assert "| runs/model_filtered | choice | 0.750 | 4 | 1 | 0 |" in table


def test_cli_eval_with_the_fake_backend(choice_test: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import clearft.evaluation.runner as runner

    opened: list[tuple[str, str | None]] = []

    def fake_open(model, backend, cache, options):  # type: ignore[no-untyped-def]
        opened.append((model, backend))
        return FakeBackend(), True

    monkeypatch.setattr(runner, "_open", fake_open)
    out, summary = tmp_path / "rows.jsonl", tmp_path / "summary.json"
    code = main(["eval", "m1", "m2", "--test", str(choice_test), "--backend", "openai",
                 "--cache", "off", "--out", str(out), "--json", str(summary)])
    assert opened == [("m1", "openai"), ("m2", "openai")]
    assert code == 0
    printed = capsys.readouterr().out
    assert "| m1 | choice |" in printed and "| m2 | choice |" in printed
    # The fake echoes the prompt, which names every option: nothing is extracted.
    rows = [json.loads(line) for line in (tmp_path / "rows.0.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["model"] for r in rows} == {"m1"}
    assert [r["n"] for r in json.loads(summary.read_text())] == [4, 4]


def test_cli_eval_on_an_engine_opens_one_engine_for_every_model(choice_test: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`eval --engine ray` evaluates on the engine (a local one stands in for Ray here): one
    engine for all the models, closed at the end; the rows equal a local evaluation's."""
    from tests.test_engine_fakes import count_engines

    made, closed = count_engines(monkeypatch)
    summary = tmp_path / "summary.json"
    args = ["eval", "default", "default", "--test", str(choice_test), "--backend", "fake", "--cache", "off",
            "--no-progress", "--json", str(summary)]
    assert main([*args, "--engine", "ray"]) == 0
    on_engine = json.loads(summary.read_text())
    assert len(made) == 1 and closed == made
    assert [r["backend"]["engine"] for r in on_engine] == ["local", "local"]
    assert main(args) == 0  # --engine local: no engine made, the model opened here
    here = json.loads(summary.read_text())
    assert len(made) == 1 and "engine" not in here[0]["backend"]
    assert [r["accuracy"] for r in on_engine] == [r["accuracy"] for r in here]


def test_cli_eval_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--help"])
    assert exc.value.code == 0
    assert "--metric" in capsys.readouterr().out


@pytest.mark.slow
def test_real_eval_of_the_default_model_on_fpb(shared_data: Path) -> None:
    test = shared_data / "robustft" / "fpb" / "test.csv"
    result = evaluate("default", test, limit=10, cache="off", progress=False)
    assert result.metric == "choice"
    assert result.n == 10 and result.errors == 0
    assert all(isinstance(r["prediction"], str) and r["prediction"] for r in result.rows)
    # The untuned 135M model mostly answers with a letter or an option we can read.
    assert result.unparsed <= 5
    # The accuracy is the mean of the per-row scores the results file records.
    assert result.accuracy == pytest.approx(sum(r["correct"] for r in result.rows) / result.n)
